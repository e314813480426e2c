// The config a running server answers with now: the one it started with until a reload swaps in
// the next (server/reload.cpp). Holding the pointer keeps that config alive, whatever reloads come
// meanwhile.
#pragma once

#include <functional>
#include <memory>

#include "core/config.h"

namespace keel {

using ConfigSource = std::function<std::shared_ptr<const Config>()>;

}  // namespace keel
