// OpenAPI presets (tools/openapi/presets.h): each preset's operations found in the real published
// specs in ../shared/specs (skipped, saying so, where that folder is absent), what a spec lacks,
// and the auth each API documents.
#include "tools/openapi/presets.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

namespace keel {
namespace {

const std::filesystem::path kSpecs = std::filesystem::path(KEEL_SOURCE_DIR) / "../shared/specs";

std::vector<std::string> names_of(const PresetSelection& selection) {
  std::vector<std::string> names;
  for (const auto& op : selection.operations) names.push_back(op.name);
  return names;
}

TEST(OpenApiPresetTest, EveryPresetFindsItsOperationsInTheRealSpecs) {
  if (!std::filesystem::exists(kSpecs)) GTEST_SKIP() << kSpecs << " is absent";
  struct Case {
    const char* preset;
    const char* file;
    std::vector<std::string> tools;
  };
  const Case cases[] = {
      {"jira",
       "jira.openapi.json",
       {"jira_search_issues", "jira_get_issue", "jira_create_issue", "jira_add_comment",
        "jira_get_comments", "jira_get_transitions", "jira_transition_issue"}},
      {"trello",
       "trello.openapi.json",
       {"trello_search", "trello_list_boards", "trello_list_lists", "trello_list_cards",
        "trello_get_card", "trello_create_card", "trello_add_comment", "trello_update_card"}},
      {"servicenow",
       "servicenow.openapi.json",
       {"servicenow_search_records", "servicenow_get_record", "servicenow_create_record",
        "servicenow_add_comment", "servicenow_update_record"}},
      {"servicenow",
       "servicenow-ballerina.openapi.yaml",
       {"servicenow_search_records", "servicenow_get_record", "servicenow_create_record",
        "servicenow_add_comment", "servicenow_update_record"}},
      {"sap",
       "sap-business-partner.openapi.json",
       {"sap_search_business_partners", "sap_get_business_partner", "sap_create_business_partner",
        "sap_update_business_partner"}},
      {"sap",
       "sap-sales-order.openapi.json",
       {"sap_search_sales_orders", "sap_get_sales_order", "sap_create_sales_order",
        "sap_add_sales_order_text", "sap_release_sales_order", "sap_reject_sales_order"}},
  };
  const std::regex vendor_name("^[A-Za-z0-9_-]{1,64}$");
  for (const auto& c : cases) {
    const OpenApiPreset* preset = find_openapi_preset(c.preset);
    ASSERT_NE(preset, nullptr) << c.preset;
    auto spec = load_spec_file((kSpecs / c.file).string());
    ASSERT_TRUE(spec.ok()) << c.file;
    auto all = import_openapi(*spec, {});
    ASSERT_TRUE(all.ok()) << c.file;
    auto selection = select_preset_operations(*preset, *all);
    ASSERT_TRUE(selection.ok()) << c.file << ": " << selection.error().message;
    EXPECT_EQ(names_of(*selection), c.tools) << c.file;
    // What keel imports for the preset (its routes only) selects the very same operations.
    auto routed = import_openapi(*spec, {}, preset_routes(*preset));
    ASSERT_TRUE(routed.ok()) << c.file;
    EXPECT_LT(routed->size(), all->size()) << c.file;
    auto picked = select_preset_operations(*preset, *routed);
    ASSERT_TRUE(picked.ok()) << c.file;
    ASSERT_EQ(names_of(*picked), c.tools) << c.file;
    for (size_t i = 0; i < picked->operations.size(); ++i) {
      EXPECT_EQ(picked->operations[i].spec.parameters, selection->operations[i].spec.parameters)
          << picked->operations[i].name;
      EXPECT_EQ(picked->operations[i].path, selection->operations[i].path);
    }
    EXPECT_TRUE(selection->missing.empty()) << c.file << ": " << selection->missing[0];
    for (const auto& op : selection->operations) {
      EXPECT_TRUE(std::regex_match(op.spec.name, vendor_name)) << op.spec.name;
      EXPECT_GT(op.spec.description.size(), 40u) << op.name;
      EXPECT_LE(op.spec.description.size(), 1024u) << op.name;
      EXPECT_EQ(op.spec.parameters["type"], "object") << op.name;
    }
  }
}

TEST(OpenApiPresetTest, JiraSearchIsTheCurrentEndpointAndCommentIsAJsonBody) {
  if (!std::filesystem::exists(kSpecs)) GTEST_SKIP() << kSpecs << " is absent";
  auto spec = load_spec_file((kSpecs / "jira.openapi.json").string());
  auto all = import_openapi(*spec, {});
  auto selection = select_preset_operations(*find_openapi_preset("jira"), *all);
  ASSERT_TRUE(selection.ok());
  const auto& search = selection->operations[0];
  EXPECT_EQ(search.method, "GET");
  EXPECT_EQ(search.path, "/rest/api/3/search/jql");  // not the deprecated /search
  EXPECT_TRUE(search.spec.parameters["properties"].contains("jql"));
  const auto& comment = selection->operations[3];
  EXPECT_EQ(comment.path, "/rest/api/3/issue/{issueIdOrKey}/comment");
  EXPECT_EQ(comment.body_type, "application/json");
}

TEST(OpenApiPresetTest, WhatASpecLacksIsNamedAndTheRestIsOffered) {
  // An older edition with only the deprecated search and issue reads.
  const Json spec = {{"openapi", "3.0.1"},
                     {"paths",
                      {{"/rest/api/3/search",
                        {{"get",
                          {{"operationId", "searchForIssuesUsingJql"},
                           {"parameters", {{{"name", "jql"}, {"in", "query"}}}}}}}},
                       {"/rest/api/3/issue/{key}",
                        {{"get", {{"parameters", {{{"name", "key"}, {"in", "path"}}}}}}}}}}};
  auto all = import_openapi(spec, {});
  ASSERT_TRUE(all.ok());
  auto selection = select_preset_operations(*find_openapi_preset("jira"), *all);
  ASSERT_TRUE(selection.ok()) << selection.error().message;
  EXPECT_EQ(names_of(*selection),
            (std::vector<std::string>{"jira_search_issues", "jira_get_issue"}));
  ASSERT_EQ(selection->missing.size(), 5u);
  EXPECT_EQ(selection->missing[0], "jira_create_issue (POST /rest/api/3/issue)");

  // A spec of another API has none of them: an error, not an empty toolset.
  auto trello = select_preset_operations(*find_openapi_preset("trello"), *all);
  ASSERT_FALSE(trello.ok());
  EXPECT_NE(trello.error().message.find("none of preset trello's operations"), std::string::npos);
}

TEST(OpenApiPresetTest, AuthIsWhatEachApiDocuments) {
  ToolsetConfig::Auth basic{.type = "basic", .username = "me", .password = "pw"};
  ToolsetConfig::Auth bearer{.type = "bearer", .token = "t"};
  ToolsetConfig::Auth trello{
      .type = "api_key", .in = "query", .values = {{"key", "k"}, {"token", "t"}}};
  EXPECT_TRUE(check_preset_auth(*find_openapi_preset("jira"), basic).ok());
  EXPECT_TRUE(check_preset_auth(*find_openapi_preset("jira"), bearer).ok());
  EXPECT_TRUE(check_preset_auth(*find_openapi_preset("servicenow"), basic).ok());
  EXPECT_TRUE(check_preset_auth(*find_openapi_preset("sap"), basic).ok());
  EXPECT_TRUE(check_preset_auth(*find_openapi_preset("trello"), trello).ok());

  auto none = check_preset_auth(*find_openapi_preset("jira"), {});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("preset jira: no auth; auth: {type: basic"),
            std::string::npos)
      << none.error().message;
  EXPECT_FALSE(check_preset_auth(*find_openapi_preset("jira"), trello).ok());
  EXPECT_FALSE(check_preset_auth(*find_openapi_preset("trello"), basic).ok());
  auto header = trello;
  header.in = "header";
  auto in_header = check_preset_auth(*find_openapi_preset("trello"), header);
  ASSERT_FALSE(in_header.ok());
  EXPECT_NE(in_header.error().message.find("in the query"), std::string::npos);
  auto no_token = trello;
  no_token.values.erase("token");
  EXPECT_FALSE(check_preset_auth(*find_openapi_preset("trello"), no_token).ok());
  EXPECT_EQ(find_openapi_preset("github"), nullptr);
}

}  // namespace
}  // namespace keel
