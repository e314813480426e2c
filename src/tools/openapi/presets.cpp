// The presets' data (what each API documents) and how they pick operations out of a spec.
#include "tools/openapi/presets.h"

#include <algorithm>
#include <set>

namespace keel {

namespace {

// Atlassian Document Format, which Jira Cloud's v3 API takes for every rich-text field.
#define KEEL_JIRA_ADF                                                                         \
  "Rich text is Atlassian Document Format: {\"type\": \"doc\", \"version\": 1, \"content\": " \
  "[{\"type\": \"paragraph\", \"content\": [{\"type\": \"text\", \"text\": \"...\"}]}]}."

const OpenApiPreset kPresets[] = {
    {"jira",
     {"basic", "bearer"},
     "auth: {type: basic, username: EMAIL, password: API_TOKEN} (Jira Cloud's API tokens) or "
     "{type: bearer, token: OAUTH_ACCESS_TOKEN}",
     {},
     false,
     {
         {"jira_search_issues",
          "",
          {"GET /rest/api/3/search/jql", "GET /rest/api/3/search"},
          "Search Jira issues with JQL, e.g. jql: 'project = KEEL AND status = \"In Progress\" "
          "ORDER BY updated DESC' or 'text ~ \"login error\"'. Give fields (a list, e.g. "
          "[\"summary\", \"status\", \"assignee\"]) and maxResults to keep the answer small. "
          "Answers the matching issues with their keys (KEEL-12)."},
         {"jira_get_issue",
          "",
          {"GET /rest/api/3/issue/{}"},
          "Read one Jira issue by key (KEEL-12) or id: summary, status, assignee, description "
          "and other fields (fields limits which, e.g. [\"summary\", \"status\"])."},
         {"jira_create_issue",
          "",
          {"POST /rest/api/3/issue"},
          "Create a Jira issue. body: {\"fields\": {\"project\": {\"key\": \"KEEL\"}, "
          "\"issuetype\": {\"name\": \"Task\"}, \"summary\": \"one line\", \"description\": "
          "RICH_TEXT}}. " KEEL_JIRA_ADF " Answers the new issue's id and key."},
         {"jira_add_comment",
          "",
          {"POST /rest/api/3/issue/{}/comment"},
          "Add a comment to a Jira issue (issueIdOrKey: KEEL-12). body: {\"body\": "
          "RICH_TEXT}. " KEEL_JIRA_ADF},
         {"jira_get_comments",
          "",
          {"GET /rest/api/3/issue/{}/comment"},
          "Read the comments of a Jira issue (issueIdOrKey: KEEL-12), oldest first; maxResults "
          "and startAt page them."},
         {"jira_get_transitions",
          "",
          {"GET /rest/api/3/issue/{}/transitions"},
          "List the workflow transitions a Jira issue can take now, each with its id and name "
          "(e.g. 31 \"Done\"). Use an id with jira_transition_issue."},
         {"jira_transition_issue",
          "",
          {"POST /rest/api/3/issue/{}/transitions"},
          "Move a Jira issue through its workflow (change its status). body: {\"transition\": "
          "{\"id\": \"31\"}}, with an id from jira_get_transitions. Answers 204 when done."},
     }},
    {"trello",
     {"api_key"},
     "auth: {type: api_key, in: query, values: {key: API_KEY, token: API_TOKEN}} (Trello takes "
     "its key and token in the query string)",
     {"key", "token"},
     false,
     {
         {"trello_search",
          "",
          {"GET /search"},
          "Search Trello for cards, boards and members by text (query: words, or operators such "
          "as \"board:Roadmap is:open\"). modelTypes limits what is searched (e.g. \"cards\"), "
          "cards_limit how many cards come back."},
         {"trello_list_boards",
          "",
          {"GET /members/{}/boards"},
          "List the boards of a member; id \"me\" is the user whose token keel holds. fields "
          "limits the answer (e.g. \"name,url\")."},
         {"trello_list_lists",
          "",
          {"GET /boards/{}/lists"},
          "List the lists (columns such as To Do, Doing, Done) of a Trello board by the board's "
          "id, with their ids: a card moves to another list by its id."},
         {"trello_list_cards",
          "",
          {"GET /lists/{}/cards"},
          "List the cards in one Trello list by the list's id."},
         {"trello_get_card",
          "",
          {"GET /cards/{}"},
          "Read one Trello card by id: name, desc, due, idList (its list), labels, members."},
         {"trello_create_card",
          "",
          {"POST /cards"},
          "Create a Trello card in a list: idList (required), name, desc; due as an ISO date."},
         {"trello_add_comment",
          "",
          {"POST /cards/{}/actions/comments"},
          "Add a comment to a Trello card: id (the card), text (the comment)."},
         {"trello_update_card",
          "",
          {"PUT /cards/{}"},
          "Change a Trello card: idList moves it to another list (its workflow step, e.g. to "
          "Done), name, desc, due, dueComplete, closed: true archives it."},
     }},
    {"servicenow",
     {"basic", "bearer"},
     "auth: {type: basic, username: USER, password: PASSWORD} or {type: bearer, token: "
     "OAUTH_ACCESS_TOKEN}",
     {},
     false,
     {
         {"servicenow_search_records",
          "",
          {"GET /api/now/table/{}"},
          "Search a ServiceNow table (tableName: incident, problem, change_request, "
          "sc_req_item, kb_knowledge, sys_user, ...). sysparm_query is an encoded query, e.g. "
          "\"active=true^priority=1^ORDERBYDESCsys_updated_on\" or "
          "\"short_descriptionLIKEvpn\"; sysparm_fields (e.g. \"number,short_description,state\") "
          "and sysparm_limit keep the answer small."},
         {"servicenow_get_record",
          "",
          {"GET /api/now/table/{}/{}"},
          "Read one ServiceNow record by table and sys_id (a 32-character id, not the number "
          "INC0010001: search by number=INC0010001 for that)."},
         {"servicenow_create_record",
          "",
          {"POST /api/now/table/{}"},
          "Create a ServiceNow record, e.g. an incident: tableName \"incident\", body "
          "{\"short_description\": \"...\", \"description\": \"...\", \"urgency\": \"2\", "
          "\"caller_id\": \"user name or sys_id\"}. Answers the record with its number and "
          "sys_id."},
         {"servicenow_add_comment",
          "",
          {"PATCH /api/now/table/{}/{}", "PUT /api/now/table/{}/{}"},
          "Add a comment to a ServiceNow record (tableName and sys_id): body {\"comments\": "
          "\"text\"} for the caller to see, or {\"work_notes\": \"text\"} for the team only."},
         {"servicenow_update_record",
          "",
          {"PATCH /api/now/table/{}/{}", "PUT /api/now/table/{}/{}"},
          "Change fields of a ServiceNow record (tableName and sys_id), e.g. move an incident "
          "through its states: body {\"state\": \"2\"} (In Progress), {\"state\": \"6\", "
          "\"close_code\": \"Solved (Permanently)\", \"close_notes\": \"...\"} (Resolved); or "
          "assigned_to, priority."},
     }},
    {"sap",
     {"basic", "bearer"},
     "auth: {type: basic, username: USER, password: PASSWORD} (the spec's BasicAuth) or "
     "{type: bearer, token: OAUTH_ACCESS_TOKEN} (its OAuth2)",
     {},
     true,
     {
         {"sap_search_business_partners",
          "API_BUSINESS_PARTNER",
          {"GET /A_BusinessPartner"},
          "Search SAP business partners (customers, suppliers, persons) with an OData $filter, "
          "e.g. \"substringof('Acme',BusinessPartnerFullName)\" or \"BusinessPartnerCategory eq "
          "'2'\"; $top limits the count, $select the fields (e.g. "
          "\"BusinessPartner,BusinessPartnerFullName\")."},
         {"sap_get_business_partner",
          "API_BUSINESS_PARTNER",
          {"GET /A_BusinessPartner('{}')"},
          "Read one SAP business partner by its number (BusinessPartner, up to 10 characters); "
          "$expand adds related data, e.g. \"to_BusinessPartnerAddress\"."},
         {"sap_create_business_partner",
          "API_BUSINESS_PARTNER",
          {"POST /A_BusinessPartner"},
          "Create an SAP business partner. body: {\"BusinessPartner\": \"\" (the system "
          "numbers it; or a number in an external range), \"BusinessPartnerCategory\": \"2\" "
          "(organization; \"1\" a person), \"OrganizationBPName1\": \"Acme\", "
          "\"BusinessPartnerGrouping\": \"...\"}."},
         {"sap_update_business_partner",
          "API_BUSINESS_PARTNER",
          {"PATCH /A_BusinessPartner('{}')"},
          "Change fields of an SAP business partner by number (BusinessPartner); body holds "
          "only the fields to change, e.g. {\"SearchTerm1\": \"ACME\"}."},
         {"sap_search_sales_orders",
          "API_SALES_ORDER_SRV",
          {"GET /A_SalesOrder"},
          "Search SAP sales orders with an OData $filter, e.g. \"SoldToParty eq '17100001'\" or "
          "\"OverallSDProcessStatus eq 'A'\"; $top, $orderby (e.g. \"CreationDate desc\"), "
          "$select."},
         {"sap_get_sales_order",
          "API_SALES_ORDER_SRV",
          {"GET /A_SalesOrder('{}')"},
          "Read one SAP sales order header by number (SalesOrder); $expand \"to_Item\" adds its "
          "items."},
         {"sap_create_sales_order",
          "API_SALES_ORDER_SRV",
          {"POST /A_SalesOrder"},
          "Create an SAP sales order. body: {\"SalesOrder\": \"\" (the system numbers it), "
          "\"SalesOrderType\": \"OR\", \"SalesOrganization\": "
          "\"1710\", \"DistributionChannel\": \"10\", \"OrganizationDivision\": \"00\", "
          "\"SoldToParty\": \"17100001\", \"to_Item\": [{\"Material\": \"TG11\", "
          "\"RequestedQuantity\": \"1\"}]}."},
         {"sap_add_sales_order_text",
          "API_SALES_ORDER_SRV",
          {"POST /A_SalesOrder('{}')/to_Text", "POST /A_SalesOrderText"},
          "Add a note (header text) to an SAP sales order (SalesOrder): body {\"Language\": "
          "\"EN\", \"LongTextID\": \"0001\", \"LongText\": \"text\"}."},
         {"sap_release_sales_order",
          "API_SALES_ORDER_SRV",
          {"POST /releaseApprovalRequest"},
          "Approve (release) an SAP sales order waiting for approval: SalesOrder as an OData "
          "literal in quotes, e.g. \"'0000000001'\"."},
         {"sap_reject_sales_order",
          "API_SALES_ORDER_SRV",
          {"POST /rejectApprovalRequest"},
          "Reject an SAP sales order waiting for approval: SalesOrder as an OData literal in "
          "quotes, e.g. \"'0000000001'\"."},
     }},
};

#undef KEEL_JIRA_ADF

// "GET /a/{x}/b('{y}')" -> "GET /a/{}/b('{}')": path parameters' names differ between editions.
std::string route_key(std::string_view method, std::string_view path) {
  std::string key(method);
  key += ' ';
  for (size_t i = 0; i < path.size(); ++i) {
    key += path[i];
    if (path[i] != '{') continue;
    const size_t close = path.find('}', i);
    if (close == std::string_view::npos) break;
    key += '}';
    i = close;
  }
  return key;
}

}  // namespace

const OpenApiPreset* find_openapi_preset(std::string_view name) {
  for (const auto& preset : kPresets) {
    if (name == preset.name) return &preset;
  }
  return nullptr;
}

RouteFilter preset_routes(const OpenApiPreset& preset) {
  std::set<std::string> keys;
  for (const auto& operation : preset.operations) {
    for (const char* candidate : operation.candidates) keys.insert(candidate);
  }
  return [keys = std::move(keys)](const std::string& method, const std::string& path) {
    return keys.count(route_key(method, path)) > 0;
  };
}

Result<PresetSelection> select_preset_operations(const OpenApiPreset& preset,
                                                 const std::vector<OpenApiOperation>& all) {
  PresetSelection selection;
  std::vector<std::string> services;  // those the spec has an operation of
  std::vector<const PresetOperation*> missing;
  for (const auto& wanted : preset.operations) {
    const OpenApiOperation* found = nullptr;
    for (const char* candidate : wanted.candidates) {
      for (const auto& operation : all) {
        if (route_key(operation.method, operation.path) == candidate) {
          found = &operation;
          break;
        }
      }
      if (found != nullptr) break;
    }
    if (found == nullptr) {
      missing.push_back(&wanted);
      continue;
    }
    services.emplace_back(wanted.service);
    OpenApiOperation operation = *found;
    operation.name = wanted.tool;
    operation.spec.name = wanted.tool;
    operation.spec.description =
        std::string(wanted.description) + " (" + operation.method + " " + operation.path + ")";
    selection.operations.push_back(std::move(operation));
  }
  if (selection.operations.empty()) {
    return Error(ErrorCode::kInvalidArgument, std::string("the spec has none of preset ") +
                                                  preset.name +
                                                  "'s operations (is it the right API's spec?)");
  }
  for (const auto* wanted : missing) {
    if (std::find(services.begin(), services.end(), wanted->service) == services.end()) continue;
    selection.missing.push_back(std::string(wanted->tool) + " (" + wanted->candidates[0] + ")");
  }
  return selection;
}

Status check_preset_auth(const OpenApiPreset& preset, const ToolsetConfig::Auth& auth) {
  const auto wrong = [&](const std::string& what) {
    return Status(Error(ErrorCode::kInvalidArgument, std::string("preset ") + preset.name + ": " +
                                                         what + "; " + preset.auth_hint));
  };
  if (auth.type.empty()) return wrong("no auth");
  if (std::find(preset.auth_types.begin(), preset.auth_types.end(), auth.type) ==
      preset.auth_types.end()) {
    return wrong("auth type " + auth.type + " is not one the API takes");
  }
  if (!preset.query_keys.empty()) {
    if (auth.in != "query") return wrong("the API takes its keys in the query, not a header");
    for (const char* key : preset.query_keys) {
      if (!auth.values.count(key)) return wrong(std::string("no ") + key + " in auth values");
    }
    if (auth.values.size() != preset.query_keys.size()) {
      return wrong("auth values other than the API's own");
    }
  }
  return Status();
}

}  // namespace keel
