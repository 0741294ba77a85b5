// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Append-only evolution for pfr_codec: a stored type description (the text that
/// fingerprint() hashes, kept per fingerprint in the database) parsed into a shape, compared
/// with the reader's type (an older version may lack trailing fields of any record, at any
/// depth; nothing else may differ), and rows of that older shape decoded, the missing
/// fields taking their default member initializers. Rules: docs/codecs.md#pfr-evolution.

#include <boost/pfr/core.hpp>
#include <boost/pfr/tuple_size.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "durable/detail/pfr/decode.hpp"
#include "durable/detail/pfr/description.hpp"
#include "durable/detail/pfr/kind.hpp"
#include "durable/exceptions.hpp"

namespace durable::inline v0::detail {

/// A parsed pfr_codec type description.
struct pfr_shape {
  enum class form : unsigned char {
    leaf,     ///< compared as text: scalars, strings, enums, durations, time points
    wrapper,  ///< std::vector, std::optional, std::array: one child, the element
    record,   ///< an aggregate: one child per field
  };
  form kind = form::leaf;
  /// leaf: its whole text ("i32", "e(u8)@2"); wrapper: its head ("v(", "a3("); record: its
  /// version suffix ("" or "@2").
  std::string text{};
  std::vector<pfr_shape> children{};
  /// The smallest encoding of a value of this shape, in bytes.
  std::size_t min_size = 0;
  /// Set by pfr_compare: identical to the reader's type, so the plain decoder reads it.
  bool same = false;
};

/// The smallest encoding of a leaf: its scalar (the underlying type of an enum, the rep of
/// a duration or time point); 1 for a string's length.
[[nodiscard]] inline std::size_t pfr_leaf_min_size(std::string_view leaf) {
  if (leaf.starts_with("e(") || leaf.starts_with("d(")) return pfr_leaf_min_size(leaf.substr(2));
  if (leaf.starts_with("t(")) {
    const auto comma = leaf.find(',');
    return comma == std::string_view::npos ? 0 : pfr_leaf_min_size(leaf.substr(comma + 1));
  }
  const auto end = leaf.find_first_of(",)@");
  const std::string_view token = leaf.substr(0, end);
  if (token == "b" || token == "c" || token == "s" || token == "i8" || token == "u8") return 1;
  if (token == "i16" || token == "u16") return 2;
  if (token == "i32" || token == "u32" || token == "f32") return 4;
  if (token == "i64" || token == "u64" || token == "f64") return 8;
  return 0;  // not a type of the grammar
}

/// Parses the grammar of docs/codecs.md#fingerprint. Throws decode_error for anything else.
class pfr_shape_parser {
 public:
  explicit pfr_shape_parser(std::string_view text) noexcept : text_(text) {}

  [[nodiscard]] pfr_shape parse() {
    if (!text_.starts_with(pfr_description_prefix)) fail("it does not start with \"pfr/1:\"");
    pos_ = pfr_description_prefix.size();
    pfr_shape shape = type();
    if (pos_ != text_.size()) fail("unexpected text after the type");
    return shape;
  }

 private:
  [[nodiscard]] bool at(std::string_view s) const { return text_.substr(pos_).starts_with(s); }

  void expect(char c) {
    if (pos_ >= text_.size() || text_[pos_] != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  std::size_t number() {
    const std::size_t start = pos_;
    std::size_t n = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9' && pos_ - start < 18) {
      n = n * 10 + static_cast<std::size_t>(text_[pos_] - '0');
      ++pos_;
    }
    if (pos_ == start) fail("expected a number");
    return n;
  }

  std::string version() {
    if (!at("@")) return {};
    const std::size_t start = pos_++;
    static_cast<void>(number());
    return std::string(text_.substr(start, pos_ - start));
  }

  pfr_shape type() {
    if (++depth_ > 256) fail("nested too deeply");
    pfr_shape s;
    if (at("{")) {
      ++pos_;
      const std::size_t count = number();
      expect(':');
      for (std::size_t i = 0; i < count; ++i) {
        if (i != 0) expect(',');
        s.children.push_back(type());
        s.min_size += s.children.back().min_size;
      }
      expect('}');
      s.kind = pfr_shape::form::record;
      s.text = version();
    } else if (at("v(") || at("o(") ||
               (at("a") && pos_ + 1 < text_.size() && text_[pos_ + 1] >= '0' &&
                text_[pos_ + 1] <= '9')) {
      const std::size_t start = pos_;
      const bool array = text_[pos_] == 'a';
      std::size_t n = 0;
      ++pos_;
      if (array) n = number();
      expect('(');
      s.kind = pfr_shape::form::wrapper;
      s.text = std::string(text_.substr(start, pos_ - start));
      s.children.push_back(type());
      expect(')');
      s.min_size = array ? n * s.children.front().min_size : 1;
    } else {
      s.text = leaf();
      s.min_size = pfr_leaf_min_size(s.text);
      if (s.min_size == 0) fail("unknown type \"" + s.text + "\"");
    }
    --depth_;
    return s;
  }

  // A leaf: up to the next ',', '}' or unbalanced ')'.
  std::string leaf() {
    const std::size_t start = pos_;
    int open = 0;
    for (; pos_ < text_.size(); ++pos_) {
      const char c = text_[pos_];
      if (c == '(') {
        ++open;
      } else if (c == ')') {
        if (open == 0) break;
        --open;
      } else if ((c == ',' || c == '}') && open == 0) {
        break;
      }
    }
    if (open != 0) fail("unbalanced parentheses");
    return std::string(text_.substr(start, pos_ - start));
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw decode_error(
        "durable: pfr_codec: the stored type description \"" + std::string(text_) +
        "\" is not a pfr_codec description (at character " + std::to_string(pos_) + ": " + why +
        "); the durable_job_types table is damaged or was written by another program");
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

/// `shape` written back as description text (without the "pfr/1:" prefix).
[[nodiscard]] inline std::string pfr_shape_text(const pfr_shape& shape) {
  switch (shape.kind) {
    case pfr_shape::form::leaf: return shape.text;
    case pfr_shape::form::wrapper: return shape.text + pfr_shape_text(shape.children.front()) + ")";
    case pfr_shape::form::record: {
      std::string out = "{" + std::to_string(shape.children.size()) + ":";
      for (std::size_t i = 0; i < shape.children.size(); ++i) {
        if (i != 0) out += ',';
        out += pfr_shape_text(shape.children[i]);
      }
      return out + "}" + shape.text;
    }
  }
  return {};
}

/// Compares stored shape `old` with the reader's shape `now` and marks the parts of `old`
/// that are identical (`same`). Returns empty when rows of `old` can be read as `now` (equal,
/// or `now` appends fields to records); else the first difference, with its path ("field 3
/// > element > field 1", fields counted from 1).
[[nodiscard]] inline std::string pfr_compare(pfr_shape& old, const pfr_shape& now,
                                             const std::string& path = "the job") {
  const auto differs = [&] {
    return path + " differs: stored " + pfr_shape_text(old) + ", this type has " +
           pfr_shape_text(now);
  };
  if (old.kind != now.kind || old.text != now.text) {
    if (old.kind == pfr_shape::form::record && now.kind == old.kind) {
      return path + " differs: stored job_version " +
             (old.text.empty() ? std::string{"0"} : old.text.substr(1)) + ", this type has " +
             (now.text.empty() ? std::string{"0"} : now.text.substr(1));
    }
    return differs();
  }
  if (old.kind == pfr_shape::form::leaf) {
    old.same = true;
    return {};
  }
  if (old.kind == pfr_shape::form::wrapper) {
    auto why = pfr_compare(old.children.front(), now.children.front(), path + " > element");
    old.same = old.children.front().same;
    return why;
  }
  bool same = old.children.size() == now.children.size();
  for (std::size_t i = 0; i < std::min(old.children.size(), now.children.size()); ++i) {
    const std::string field = "field " + std::to_string(i + 1);
    auto why =
        pfr_compare(old.children[i], now.children[i],
                    path == "the job" ? field : std::string{path}.append(" > ").append(field));
    if (!why.empty()) return why;
    same = same && old.children[i].same;
  }
  if (old.children.size() > now.children.size()) {
    return path + " differs: stored " + std::to_string(old.children.size()) +
           " fields, this type has " + std::to_string(now.children.size()) +
           " (fields were removed; only appending is safe)";
  }
  old.same = same;
  return {};
}

/// The parsed description of `Job`, built once.
template <class Job>
const pfr_shape& pfr_reader_shape() {
  static const pfr_shape shape = pfr_shape_parser(pfr_description<Job>()).parse();
  return shape;
}

template <class T>
T pfr_read_shaped(pfr_reader& r, const pfr_shape& s);

template <class R, std::size_t I>
std::remove_cv_t<boost::pfr::tuple_element_t<I, R>> pfr_read_field_shaped(
    pfr_reader& r, const pfr_shape& s, std::optional<R>& defaults) {
  using F = std::remove_cv_t<boost::pfr::tuple_element_t<I, R>>;
  if (I < s.children.size()) return pfr_read_shaped<F>(r, s.children[I]);
  return std::move(boost::pfr::get<I>(*defaults));
}

template <class R, std::size_t... I>
R pfr_read_record_shaped(pfr_reader& r, const pfr_shape& s, std::index_sequence<I...> /*fields*/) {
  // Fields the stored type did not have take the values of R{}: their default member
  // initializers, or value-initialization.
  std::optional<R> defaults;
  if (s.children.size() < sizeof...(I)) defaults.emplace(R{});
  return R{pfr_read_field_shaped<R, I>(r, s, defaults)...};  // evaluated left to right
}

/// Decodes one `T` written with stored shape `s`, which pfr_compare accepted for `T`.
template <class T>
T pfr_read_shaped(pfr_reader& r, const pfr_shape& s) {
  constexpr pfr_kind kind = pfr_kind_v<T>;
  if (s.same) return pfr_read<T>(r);
  if constexpr (kind == pfr_kind::record) {
    return pfr_read_record_shaped<T>(r, s, std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
  } else if constexpr (kind == pfr_kind::vector) {
    using E = typename std_template_traits<T>::element;
    const pfr_shape& element = s.children.front();
    const std::size_t n = r.count("std::vector count", std::max<std::size_t>(1, element.min_size));
    T v;
    v.reserve(n);
    for (std::size_t i = 0; i < n; ++i) v.push_back(pfr_read_shaped<E>(r, element));
    return v;
  } else if constexpr (kind == pfr_kind::optional) {
    T o;
    if (r.flag("std::optional presence byte")) {
      o.emplace(pfr_read_shaped<std::remove_cv_t<typename std_template_traits<T>::element>>(
          r, s.children.front()));
    }
    return o;
  } else if constexpr (kind == pfr_kind::array) {
    using E = std::remove_cv_t<typename std_template_traits<T>::element>;
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return T{{(static_cast<void>(I), pfr_read_shaped<E>(r, s.children.front()))...}};
    }
    (std::make_index_sequence<std_template_traits<T>::size>{});
  } else {
    return pfr_read<T>(r);  // not reached: pfr_compare marks every accepted leaf `same`
  }
}

}  // namespace durable::inline v0::detail
