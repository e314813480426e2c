#include "flows/stream.h"

namespace keel {

FlowStream::FlowStream(const asio::any_io_executor& executor)
    : wake_(executor, asio::steady_timer::time_point::max()) {}

void FlowStream::start(const Flow& flow, Json inputs, Router& router, FlowRunOptions options,
                       CancelPtr cancel, bool stream_text) {
  options.stream = stream_text ? this : nullptr;
  asio::co_spawn(wake_.get_executor(),
                 run(*this, flow, std::move(inputs), router, std::move(options), std::move(cancel)),
                 asio::detached);
}

Task<void> FlowStream::run(FlowStream& self, const Flow& flow, Json inputs, Router& router,
                           FlowRunOptions options, CancelPtr cancel) {
  Result<Json> result = Error(ErrorCode::kInternal, "not run");
  try {
    result = co_await run_flow(flow, inputs, router, options, std::move(cancel));
  } catch (const std::exception& e) {
    result = Error(ErrorCode::kInternal, std::string("flow run failed: ") + e.what());
  }
  self.result_.emplace(std::move(result));
  self.wake_.cancel();
}

Task<bool> FlowStream::next() {
  while (pieces_.empty() && !result_) {
    boost::system::error_code ec;
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return !result_.has_value();
}

Task<bool> FlowStream::on_text(const std::string& text) {
  if (closed_) co_return false;
  pieces_.push_back(text);
  wake_.cancel();
  co_return true;
}

}  // namespace keel
