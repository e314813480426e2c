#include "server/public_names.h"

#include "copilots/copilot.h"

namespace keel {

Status PublicNames::add(PublicName name) {
  if (names_.count(name.name)) {
    return Error(ErrorCode::kInvalidArgument, "public name \"" + name.name + "\" is taken");
  }
  std::string key = name.name;
  names_.emplace(std::move(key), std::move(name));
  return Status();
}

const PublicName* PublicNames::find(const std::string& name) const {
  auto it = names_.find(name);
  return it == names_.end() ? nullptr : &it->second;
}

std::vector<std::string> PublicNames::names() const {
  std::vector<std::string> out;
  for (const auto& [name, entry] : names_) out.push_back(name);
  return out;
}

Status add_copilots(PublicNames& names, std::shared_ptr<const copilots::CopilotSet> copilots,
                    Toolbox* toolbox) {
  for (const std::string& name : copilots->names()) {
    const copilots::Copilot* copilot = copilots->find(name);
    // The set stays alive in every handler that points into it.
    NameHandler handler = [copilots, copilot, toolbox](Router& router, const ChatRequest& request,
                                                       EventSink& sink, CancelPtr cancel) {
      return copilot->answer(router, toolbox, request, sink, std::move(cancel));
    };
    if (Status status = names.add({name, "copilot", std::move(handler)}); !status.ok()) {
      return status;
    }
  }
  return Status();
}

}  // namespace keel
