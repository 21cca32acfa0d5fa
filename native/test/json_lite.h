// A minimal, strict JSON reader for the native tests (test/vectors/kernel-vectors.json): the
// RFC 8259 grammar and nothing more (no comments, no trailing commas, no NaN literals, no leading
// zeros, no duplicate keys, nothing after the value). Errors throw json_lite::Error with the line
// and column. Header-only, no dependencies beyond the standard library.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace json_lite {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Value {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> object;  // in file order

  bool isNull() const { return type == Type::Null; }
  bool isBool() const { return type == Type::Bool; }
  bool isNumber() const { return type == Type::Number; }
  bool isString() const { return type == Type::String; }
  bool isArray() const { return type == Type::Array; }
  bool isObject() const { return type == Type::Object; }

  // The member `key` of an object, or null when there is none (or this is not an object).
  const Value* find(const std::string& key) const {
    if (type != Type::Object) return nullptr;
    for (const auto& kv : object)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
};

namespace detail {

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  Value parseDocument() {
    skipSpace();
    Value v = parseValue(0);
    skipSpace();
    if (pos_ != s_.size()) fail("unexpected characters after the JSON value");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 64;
  const std::string& s_;
  size_t pos_ = 0;

  [[noreturn]] void fail(const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < s_.size(); i++) {
      if (s_[i] == '\n') line++, col = 1;
      else col++;
    }
    throw Error("JSON: " + what + " at line " + std::to_string(line) + ", column " + std::to_string(col));
  }

  bool atEnd() const { return pos_ >= s_.size(); }
  char peek() const { return atEnd() ? '\0' : s_[pos_]; }

  void skipSpace() {
    while (!atEnd() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) pos_++;
  }

  void expectWord(const char* word) {
    for (const char* c = word; *c; c++) {
      if (peek() != *c) fail(std::string("invalid literal, expected '") + word + "'");
      pos_++;
    }
  }

  Value parseValue(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than 64");
    Value v;
    switch (peek()) {
      case '{': parseObject(v, depth); break;
      case '[': parseArray(v, depth); break;
      case '"':
        v.type = Value::Type::String;
        v.string = parseString();
        break;
      case 't':
        expectWord("true");
        v.type = Value::Type::Bool;
        v.boolean = true;
        break;
      case 'f':
        expectWord("false");
        v.type = Value::Type::Bool;
        break;
      case 'n': expectWord("null"); break;
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) {
          v.type = Value::Type::Number;
          v.number = parseNumber();
        } else {
          fail(atEnd() ? "unexpected end of input" : std::string("unexpected character '") + peek() + "'");
        }
    }
    return v;
  }

  void parseObject(Value& v, int depth) {
    v.type = Value::Type::Object;
    pos_++;  // {
    skipSpace();
    if (peek() == '}') {
      pos_++;
      return;
    }
    for (;;) {
      skipSpace();
      if (peek() != '"') fail("expected a string key");
      std::string key = parseString();
      if (v.find(key)) fail("duplicate key \"" + key + "\"");
      skipSpace();
      if (peek() != ':') fail("expected ':'");
      pos_++;
      skipSpace();
      Value member = parseValue(depth + 1);
      v.object.emplace_back(std::move(key), std::move(member));
      skipSpace();
      if (peek() == ',') {
        pos_++;
        continue;
      }
      if (peek() == '}') {
        pos_++;
        return;
      }
      fail("expected ',' or '}'");
    }
  }

  void parseArray(Value& v, int depth) {
    v.type = Value::Type::Array;
    pos_++;  // [
    skipSpace();
    if (peek() == ']') {
      pos_++;
      return;
    }
    for (;;) {
      skipSpace();
      v.array.push_back(parseValue(depth + 1));
      skipSpace();
      if (peek() == ',') {
        pos_++;
        continue;
      }
      if (peek() == ']') {
        pos_++;
        return;
      }
      fail("expected ',' or ']'");
    }
  }

  static void appendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  uint32_t parseHex4() {
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
      const char c = peek();
      x <<= 4;
      if (c >= '0' && c <= '9') x |= uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') x |= uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') x |= uint32_t(c - 'A' + 10);
      else fail("invalid \\u escape");
      pos_++;
    }
    return x;
  }

  std::string parseString() {
    pos_++;  // opening quote
    std::string out;
    for (;;) {
      if (atEnd()) fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        pos_++;
        return out;
      }
      if (c < 0x20) fail("control character in a string");
      if (c != '\\') {
        out += char(c);
        pos_++;
        continue;
      }
      pos_++;
      const char e = peek();
      pos_++;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = parseHex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (peek() != '\\') fail("unpaired surrogate");
            pos_++;
            if (peek() != 'u') fail("unpaired surrogate");
            pos_++;
            const uint32_t lo = parseHex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("unpaired surrogate");
          }
          appendUtf8(out, cp);
          break;
        }
        default:
          pos_--;
          fail("invalid escape");
      }
    }
  }

  // The JSON number grammar, checked here; the value itself comes from strtod (C locale).
  double parseNumber() {
    const size_t start = pos_;
    auto digits = [&] {
      const size_t from = pos_;
      while (peek() >= '0' && peek() <= '9') pos_++;
      return pos_ - from;
    };
    if (peek() == '-') pos_++;
    if (peek() == '0') {
      pos_++;
      if (peek() >= '0' && peek() <= '9') fail("leading zero in a number");
    } else if (digits() == 0) {
      fail("expected a digit");
    }
    if (peek() == '.') {
      pos_++;
      if (digits() == 0) fail("expected a digit after '.'");
    }
    if (peek() == 'e' || peek() == 'E') {
      pos_++;
      if (peek() == '+' || peek() == '-') pos_++;
      if (digits() == 0) fail("expected a digit in the exponent");
    }
    const std::string text = s_.substr(start, pos_ - start);
    char* end = nullptr;
    const double x = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size()) fail("unreadable number '" + text + "'");
    return x;
  }
};

}  // namespace detail

// Parses a whole JSON document; throws json_lite::Error.
inline Value parse(const std::string& text) { return detail::Parser(text).parseDocument(); }

}  // namespace json_lite
