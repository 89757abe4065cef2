// CORS: preflight detection and Envoy's CORS filter decisions for a route's corsPolicy.
#include "router/cors.h"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace weft::router::cors {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

mesh::StringMatch exact(std::string v) {
  mesh::StringMatch m;
  m.kind = mesh::StringMatch::Kind::kExact;
  m.value = std::move(v);
  return m;
}

mesh::StringMatch regex(std::string v) {
  mesh::StringMatch m;
  m.kind = mesh::StringMatch::Kind::kRegex;
  m.value = v;
  m.regex = std::make_shared<const re2::RE2>(v);
  return m;
}

http::RequestHead request(std::string method, std::string origin = "",
                          std::string request_method = "") {
  http::RequestHead h;
  h.method = std::move(method);
  h.path = "/";
  h.authority = "svc";
  if (!origin.empty()) h.headers.add("origin", origin);
  if (!request_method.empty()) h.headers.add("access-control-request-method", request_method);
  return h;
}

mesh::CorsPolicy policy() {
  mesh::CorsPolicy p;
  p.allow_origins.push_back(exact("https://a.example"));
  p.allow_origins.push_back(regex("https://.*\\.b\\.example"));
  p.allow_methods = {"GET", "POST"};
  p.allow_headers = {"x-custom", "content-type"};
  p.expose_headers = {"x-trace", "x-id"};
  p.max_age_s = 86400;
  p.allow_credentials = true;
  return p;
}

TEST(CorsTest, IsPreflight) {
  EXPECT_TRUE(isPreflight(request("OPTIONS", "https://a.example", "PUT")));
  EXPECT_FALSE(isPreflight(request("OPTIONS", "https://a.example")));
  EXPECT_FALSE(isPreflight(request("OPTIONS", "", "PUT")));
  EXPECT_FALSE(isPreflight(request("GET", "https://a.example", "PUT")));
  auto empty = request("OPTIONS");
  empty.headers.add("origin", "");
  empty.headers.add("access-control-request-method", "PUT");
  EXPECT_FALSE(isPreflight(empty));
}

TEST(CorsTest, OriginMatching) {
  mesh::CorsPolicy p = policy();
  EXPECT_TRUE(originAllowed(p, "https://a.example"));
  EXPECT_TRUE(originAllowed(p, "https://x.b.example"));
  EXPECT_FALSE(originAllowed(p, "https://a.example.evil"));  // regex and exact: whole value
  EXPECT_FALSE(originAllowed(p, "http://a.example"));
  EXPECT_FALSE(originAllowed(mesh::CorsPolicy{}, "https://a.example"));
  // Envoy also tests each matcher against "*": `exact: "*"` allows every origin.
  mesh::CorsPolicy star;
  star.allow_origins.push_back(exact("*"));
  EXPECT_TRUE(originAllowed(star, "https://anything.example"));
}

TEST(CorsTest, NoOriginIsNotACorsRequest) {
  CorsDecision d = evaluate(policy(), request("GET"));
  EXPECT_FALSE(d.cors_request);
  EXPECT_FALSE(d.respond_locally);
  EXPECT_TRUE(d.headers.empty());
  d = evaluate(policy(), request("OPTIONS", "", "GET"));
  EXPECT_FALSE(d.cors_request);
  EXPECT_FALSE(d.respond_locally);
}

TEST(CorsTest, PreflightFromAllowedOriginIsAnsweredLocally) {
  CorsDecision d = evaluate(policy(), request("OPTIONS", "https://x.b.example", "PUT"));
  EXPECT_TRUE(d.cors_request);
  EXPECT_TRUE(d.origin_allowed);
  EXPECT_TRUE(d.preflight);
  EXPECT_TRUE(d.respond_locally);
  EXPECT_EQ(d.headers, (Headers{{"access-control-allow-origin", "https://x.b.example"},
                                {"access-control-allow-credentials", "true"},
                                {"access-control-allow-methods", "GET,POST"},
                                {"access-control-allow-headers", "x-custom,content-type"},
                                {"access-control-max-age", "86400"}}));
}

TEST(CorsTest, PreflightWithMinimalPolicy) {
  mesh::CorsPolicy p;
  p.allow_origins.push_back(exact("https://a.example"));
  CorsDecision d = evaluate(p, request("OPTIONS", "https://a.example", "GET"));
  EXPECT_TRUE(d.respond_locally);
  EXPECT_EQ(d.headers, (Headers{{"access-control-allow-origin", "https://a.example"}}));
}

TEST(CorsTest, StarMethodsAndHeadersEchoTheRequest) {
  mesh::CorsPolicy p;
  p.allow_origins.push_back(exact("https://a.example"));
  p.allow_methods = {"*"};
  p.allow_headers = {"*"};
  auto head = request("OPTIONS", "https://a.example", "PATCH");
  head.headers.add("access-control-request-headers", "x-a,x-b");
  CorsDecision d = evaluate(p, head);
  EXPECT_EQ(d.headers, (Headers{{"access-control-allow-origin", "https://a.example"},
                                {"access-control-allow-methods", "PATCH"},
                                {"access-control-allow-headers", "x-a,x-b"}}));
}

TEST(CorsTest, UnmatchedPreflightForwardedByDefault) {
  CorsDecision d = evaluate(policy(), request("OPTIONS", "https://evil.example", "PUT"));
  EXPECT_TRUE(d.cors_request);
  EXPECT_FALSE(d.origin_allowed);
  EXPECT_TRUE(d.preflight);
  EXPECT_FALSE(d.respond_locally);
  EXPECT_TRUE(d.headers.empty());
}

TEST(CorsTest, UnmatchedPreflightIgnoredIsAnsweredWithoutAllowOrigin) {
  mesh::CorsPolicy p = policy();
  p.forward_unmatched_preflights = false;
  CorsDecision d = evaluate(p, request("OPTIONS", "https://evil.example", "PUT"));
  EXPECT_FALSE(d.origin_allowed);
  EXPECT_TRUE(d.respond_locally);
  // Envoy still adds the policy's other headers; only Allow-Origin is left out.
  EXPECT_EQ(d.headers, (Headers{{"access-control-allow-credentials", "true"},
                                {"access-control-allow-methods", "GET,POST"},
                                {"access-control-allow-headers", "x-custom,content-type"},
                                {"access-control-max-age", "86400"}}));
}

TEST(CorsTest, SimpleRequestGetsResponseHeaders) {
  CorsDecision d = evaluate(policy(), request("POST", "https://a.example"));
  EXPECT_TRUE(d.cors_request);
  EXPECT_TRUE(d.origin_allowed);
  EXPECT_FALSE(d.preflight);
  EXPECT_FALSE(d.respond_locally);
  EXPECT_EQ(d.headers, (Headers{{"access-control-allow-origin", "https://a.example"},
                                {"access-control-allow-credentials", "true"},
                                {"access-control-expose-headers", "x-trace,x-id"}}));
  // OPTIONS without Access-Control-Request-Method is an ordinary request.
  d = evaluate(policy(), request("OPTIONS", "https://a.example"));
  EXPECT_FALSE(d.preflight);
  EXPECT_FALSE(d.respond_locally);
  EXPECT_EQ(d.headers.size(), 3u);
}

TEST(CorsTest, SimpleRequestFromOtherOriginIsLeftAlone) {
  CorsDecision d = evaluate(policy(), request("GET", "https://evil.example"));
  EXPECT_TRUE(d.cors_request);
  EXPECT_FALSE(d.origin_allowed);
  EXPECT_FALSE(d.respond_locally);
  EXPECT_TRUE(d.headers.empty());
}

}  // namespace
}  // namespace weft::router::cors
