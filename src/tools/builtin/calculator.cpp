#include "tools/builtin/calculator.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <string>
#include <vector>

namespace keel {

namespace {

constexpr size_t kMaxLength = 4096;
constexpr int kMaxDepth = 64;  // nesting of parentheses, unary signs and '^'

struct ParseFailure {
  std::string reason;
};

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  double parse() {
    const double value = sum();
    skip_space();
    if (pos_ != text_.size()) fail("unexpected '" + std::string(1, text_[pos_]) + "'");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& reason) const {
    throw ParseFailure{reason + " at position " + std::to_string(pos_ + 1)};
  }

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  bool take(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  struct Depth {
    int& depth;
    explicit Depth(Parser& parser) : depth(parser.depth_) {
      if (++depth > kMaxDepth) parser.fail("expression nested too deeply");
    }
    ~Depth() { --depth; }
  };

  double sum() {
    double value = product();
    for (;;) {
      if (take('+')) {
        value += product();
      } else if (take('-')) {
        value -= product();
      } else {
        return value;
      }
    }
  }

  double product() {
    double value = unary();
    for (;;) {
      if (take('*')) {
        value *= unary();
      } else if (take('/')) {
        const double divisor = unary();
        if (divisor == 0) fail("division by zero");
        value /= divisor;
      } else if (take('%')) {
        const double divisor = unary();
        if (divisor == 0) fail("modulo by zero");
        value = std::fmod(value, divisor);
      } else {
        return value;
      }
    }
  }

  // -2^2 is -(2^2), and 2^-1 and 2^3^2 = 2^(3^2) read as in mathematics.
  double unary() {
    Depth depth(*this);
    if (take('-')) return -unary();
    if (take('+')) return unary();
    return power();
  }

  double power() {
    Depth depth(*this);
    const double base = primary();
    if (take('^')) return std::pow(base, unary());
    return base;
  }

  double primary() {
    skip_space();
    if (pos_ >= text_.size()) fail("expected a number");
    const char c = text_[pos_];
    if (c == '(') {
      ++pos_;
      Depth depth(*this);
      const double value = sum();
      if (!take(')')) fail("expected ')'");
      return value;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') return number();
    if (std::isalpha(static_cast<unsigned char>(c))) return name();
    fail("unexpected '" + std::string(1, c) + "'");
  }

  double number() {
    const char* begin = text_.data() + pos_;
    const char* end = text_.data() + text_.size();
    double value = 0;
    auto [ptr, ec] = std::from_chars(begin, end, value, std::chars_format::general);
    if (ec == std::errc::result_out_of_range) fail("number out of range");
    if (ec != std::errc() || ptr == begin) fail("bad number");
    pos_ += static_cast<size_t>(ptr - begin);
    return value;
  }

  double name() {
    const size_t start = pos_;
    while (pos_ < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) {
      ++pos_;
    }
    std::string word(text_.substr(start, pos_ - start));
    for (char& ch : word) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (word == "pi") return M_PI;
    if (word == "e") return M_E;
    if (!take('(')) {
      pos_ = start;
      fail("unknown name '" + word + "'");
    }
    std::vector<double> args;
    if (!take(')')) {
      Depth depth(*this);
      do {
        args.push_back(sum());
      } while (take(','));
      if (!take(')')) fail("expected ')' after the arguments of " + word);
    }
    return call(word, args);
  }

  double call(const std::string& function, const std::vector<double>& args) {
    struct Unary {
      const char* name;
      double (*fn)(double);
    };
    static constexpr Unary kUnary[] = {
        {"abs", [](double x) { return std::fabs(x); }},
        {"sqrt", [](double x) { return std::sqrt(x); }},
        {"cbrt", [](double x) { return std::cbrt(x); }},
        {"exp", [](double x) { return std::exp(x); }},
        {"ln", [](double x) { return std::log(x); }},
        {"log", [](double x) { return std::log10(x); }},
        {"log2", [](double x) { return std::log2(x); }},
        {"sin", [](double x) { return std::sin(x); }},
        {"cos", [](double x) { return std::cos(x); }},
        {"tan", [](double x) { return std::tan(x); }},
        {"asin", [](double x) { return std::asin(x); }},
        {"acos", [](double x) { return std::acos(x); }},
        {"atan", [](double x) { return std::atan(x); }},
        {"floor", [](double x) { return std::floor(x); }},
        {"ceil", [](double x) { return std::ceil(x); }},
        {"round", [](double x) { return std::round(x); }},
    };
    for (const auto& entry : kUnary) {
      if (function != entry.name) continue;
      if (args.size() != 1) fail(function + " takes 1 argument");
      return entry.fn(args[0]);
    }
    if (function == "min" || function == "max") {
      if (args.empty()) fail(function + " takes at least 1 argument");
      double value = args[0];
      for (double arg : args)
        value = function == "min" ? std::min(value, arg) : std::max(value, arg);
      return value;
    }
    if (function == "pow" || function == "hypot") {
      if (args.size() != 2) fail(function + " takes 2 arguments");
      return function == "pow" ? std::pow(args[0], args[1]) : std::hypot(args[0], args[1]);
    }
    fail("unknown function '" + function + "'");
  }

  std::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

Result<double> evaluate_expression(std::string_view expression) {
  if (expression.size() > kMaxLength) {
    return Error(ErrorCode::kInvalidArgument,
                 "expression longer than " + std::to_string(kMaxLength) + " characters");
  }
  try {
    const double value = Parser(expression).parse();
    if (!std::isfinite(value)) {
      return Error(ErrorCode::kInvalidArgument, "the result is not a finite number");
    }
    return value;
  } catch (const ParseFailure& failure) {
    return Error(ErrorCode::kInvalidArgument, failure.reason);
  }
}

}  // namespace keel
