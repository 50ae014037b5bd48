// One description of a record's fields, walked in both directions. A type lists its fields once
//
//   template <class Self, class F> static void fields(Self& s, F&& f) { f("epoch", s.epoch); ... }
//
// and write_fields()/read_fields() walk that list to turn the record into a JSON object and back,
// so what is written and what is read can never drift apart (no pair of functions kept in the
// same order by hand). A field may be marked Restore::No: written (for the record) but left alone
// on read (e.g. the epoch limit, which a resumed run may change), or Restore::IfPresent: read
// when the JSON has it (fields added after files were first written). Values: integers, floats,
// bools, strings, std::optional (JSON null when empty), enums with to_json/from_json, nested
// records that have fields(), and vectors of those.
#pragma once

#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "nlohmann/json.hpp"

namespace wordlm::fields {

enum class Restore { Yes, No, IfPresent };

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};

template <class T>
nlohmann::json to_value(const T& v);
template <class T>
void from_value(const nlohmann::json& j, T& v);

struct Writer {
  nlohmann::json& out;
  template <class T>
  void operator()(const char* name, const T& v, Restore = Restore::Yes) const {
    out[name] = to_value(v);
  }
};

struct Reader {
  const nlohmann::json& in;
  template <class T>
  void operator()(const char* name, T& v, Restore r = Restore::Yes) const {
    if (r == Restore::No) return;
    if (r == Restore::IfPresent && !in.contains(name)) return;
    if constexpr (is_optional<T>::value) {
      auto it = in.find(name);  // an optional field may also be absent (files written before it existed)
      if (it == in.end()) {
        v.reset();
        return;
      }
      from_value(*it, v);
    } else {
      from_value(in.at(name), v);  // json::out_of_range names the missing key
    }
  }
};

template <class R>
nlohmann::json write_fields(const R& r) {
  nlohmann::json j = nlohmann::json::object();
  R::fields(r, Writer{j});
  return j;
}

template <class R>
void read_fields(const nlohmann::json& j, R& r) {
  if (!j.is_object()) throw nlohmann::json::type_error::create(302, "expected an object", &j);
  R::fields(r, Reader{j});
}

template <class T>
nlohmann::json to_value(const T& v) {
  if constexpr (requires { T::fields(v, Writer{std::declval<nlohmann::json&>()}); }) {
    return write_fields(v);
  } else if constexpr (is_optional<T>::value) {
    return v ? to_value(*v) : nlohmann::json(nullptr);
  } else if constexpr (is_vector<T>::value) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& e : v) a.push_back(to_value(e));
    return a;
  } else {
    return nlohmann::json(v);
  }
}

template <class T>
void from_value(const nlohmann::json& j, T& v) {
  if constexpr (requires { T::fields(v, Reader{j}); }) {
    read_fields(j, v);
  } else if constexpr (is_optional<T>::value) {
    if (j.is_null()) {
      v.reset();
    } else {
      typename T::value_type x{};
      from_value(j, x);
      v = x;
    }
  } else if constexpr (is_vector<T>::value) {
    if (!j.is_array()) throw nlohmann::json::type_error::create(302, "expected an array", &j);
    v.clear();
    for (const auto& e : j) {
      typename T::value_type x{};
      from_value(e, x);
      v.push_back(std::move(x));
    }
  } else {
    v = j.get<T>();
  }
}

}  // namespace wordlm::fields
