// OpenAPI import (tools/openapi/openapi.h): the real published specs in ../shared/specs import
// (skipped, saying so, where that folder is absent), and the import rules on small documents.
#include "tools/openapi/openapi.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>

namespace keel {
namespace {

const std::filesystem::path kSpecs = std::filesystem::path(KEEL_SOURCE_DIR) / "../shared/specs";

TEST(OpenApiImportTest, EveryPublishedSpecImports) {
  if (!std::filesystem::exists(kSpecs)) GTEST_SKIP() << kSpecs << " is absent";
  const std::pair<const char*, size_t> specs[] = {{"jira.openapi.json", 616},
                                                  {"trello.openapi.json", 255},
                                                  {"servicenow.openapi.json", 6},
                                                  {"servicenow-ballerina.openapi.yaml", 20},
                                                  {"sap-business-partner.openapi.json", 440},
                                                  {"sap-sales-order.openapi.json", 158},
                                                  {"petstore-expanded.swagger.json", 4},
                                                  {"openai-openapi.yaml", 0}};
  const std::regex vendor_name("^[A-Za-z0-9_-]{1,64}$");
  for (const auto& [file, expected] : specs) {
    auto spec = load_spec_file((kSpecs / file).string());
    ASSERT_TRUE(spec.ok()) << file << ": " << spec.error().message;
    auto operations = import_openapi(*spec, {});
    ASSERT_TRUE(operations.ok()) << file << ": " << operations.error().message;
    if (expected > 0) EXPECT_EQ(operations->size(), expected) << file;
    EXPECT_GT(operations->size(), 0u) << file;
    std::set<std::string> names;
    for (const auto& op : *operations) {
      EXPECT_TRUE(std::regex_match(op.name, vendor_name)) << file << ": " << op.name;
      EXPECT_TRUE(names.insert(op.name).second) << file << ": duplicate " << op.name;
      EXPECT_EQ(op.spec.parameters["type"], "object") << file << ": " << op.name;
      EXPECT_LT(op.spec.parameters.dump().size(), 2u << 20) << file << ": " << op.name;
    }
  }
}

TEST(OpenApiImportTest, TrelloAndJiraOperationsAsACopilotUsesThem) {
  if (!std::filesystem::exists(kSpecs)) GTEST_SKIP() << kSpecs << " is absent";
  auto trello = load_spec_file((kSpecs / "trello.openapi.json").string());
  auto cards = import_openapi(*trello, {"post-cards"});
  ASSERT_TRUE(cards.ok()) << cards.error().message;
  ASSERT_EQ(cards->size(), 1u);
  const OpenApiOperation& post = (*cards)[0];
  EXPECT_EQ(post.method, "POST");
  EXPECT_EQ(post.path, "/cards");
  EXPECT_EQ(openapi_server_url(*trello), "https://api.trello.com/1");
  bool id_list_in_query = false;
  for (const auto& p : post.parameters) id_list_in_query |= p.name == "idList" && p.in == "query";
  EXPECT_TRUE(id_list_in_query);

  auto jira = load_spec_file((kSpecs / "jira.openapi.json").string());
  auto issue = import_openapi(*jira, {"createIssue"});
  ASSERT_TRUE(issue.ok()) << issue.error().message;
  EXPECT_EQ((*issue)[0].body_type, "application/json");
  EXPECT_TRUE((*issue)[0].spec.parameters["properties"].contains("body"));
  auto missing = import_openapi(*jira, {"noSuchOperation"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "no operation named noSuchOperation");
}

TEST(OpenApiImportTest, RulesOnASmallDocument) {
  const Json spec = Json::parse(R"({
    "openapi": "3.0.0",
    "servers": [{"url": "https://api.example.com/v2"}],
    "components": {
      "schemas": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/components/schemas/Node"}}}},
      "parameters": {"Id": {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}}
    },
    "paths": {
      "/items/{id}": {
        "parameters": [{"$ref": "#/components/parameters/Id"}],
        "get": {"summary": "Get an item", "parameters": [{"name": "expand", "in": "query", "schema": {"type": "boolean"}}]},
        "put": {"operationId": "put.item", "requestBody": {"required": true,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}}}
      },
      "/a(b='c')/$batch": {"post": {"operationId": "put.item"}}
    }
  })");
  auto ops = import_openapi(spec, {});
  ASSERT_TRUE(ops.ok()) << ops.error().message;
  ASSERT_EQ(ops->size(), 3u);
  EXPECT_EQ((*ops)[0].name, "get__items__id_");
  EXPECT_EQ((*ops)[0].spec.description, "Get an item");
  EXPECT_EQ((*ops)[0].spec.parameters["required"], Json::array({"id"}));
  EXPECT_EQ((*ops)[1].name, "put_item");
  EXPECT_EQ((*ops)[1].spec.parameters["properties"]["body"]["properties"]["child"]["description"],
            "(recursive: #/components/schemas/Node)");
  EXPECT_EQ((*ops)[2].name, "put_item_2");
  EXPECT_EQ(openapi_server_url(spec), "https://api.example.com/v2");
  EXPECT_FALSE(import_openapi(Json::parse(R"({"info": {}})"), {}).ok());
}

}  // namespace
}  // namespace keel
