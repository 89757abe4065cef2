// weft-proxy entry point (being built).
int main() { return 0; }
