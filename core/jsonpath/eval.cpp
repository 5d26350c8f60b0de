// SPDX-License-Identifier: Apache-2.0
#include "core/jsonpath/eval.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <unordered_map>
#include <utility>
#include <variant>

#include "core/jsonpath/iregexp.hpp"
#include "core/jsonpath/jsonpath.hpp"

namespace vaultfwd::jsonpath::detail {

using nlohmann::json;

PathTree::PathTree() {
    m_steps.push_back(Step{k_root, nullptr, 0});
}

std::size_t PathTree::add_member(std::size_t parent, const std::string& name) {
    m_steps.push_back(Step{parent, &name, 0});
    return m_steps.size() - 1;
}

std::size_t PathTree::add_index(std::size_t parent, std::size_t index) {
    m_steps.push_back(Step{parent, nullptr, index});
    return m_steps.size() - 1;
}

std::vector<std::size_t> PathTree::chain(std::size_t node) const {
    std::vector<std::size_t> out;
    for (std::size_t n = node; n != k_root; n = m_steps[n].parent)
        out.push_back(n);
    std::reverse(out.begin(), out.end());
    return out;
}

int PathTree::compare_siblings(std::size_t a, std::size_t b) const {
    const Step& x = m_steps[a];
    const Step& y = m_steps[b];
    if (x.name != nullptr && y.name != nullptr)
        return x.name->compare(*y.name); // nlohmann::json keeps members in std::less order
    return x.index < y.index ? -1 : (x.index > y.index ? 1 : 0);
}

std::string PathTree::render(std::size_t node) const {
    std::string out = "$";
    for (std::size_t n : chain(node)) {
        const Step& step = m_steps[n];
        out += '[';
        out += step.name != nullptr ? normalized_name(*step.name) : std::to_string(step.index);
        out += ']';
    }
    return out;
}

namespace {

// A ValueType result: Nothing, a value inside the document or the query, or a computed one.
class Value {
  public:
    Value() = default;
    explicit Value(const json* ref) : m_state(ref) {}
    explicit Value(json owned) : m_state(std::move(owned)) {}

    bool nothing() const { return m_state.index() == 0; }
    const json& get() const {
        return m_state.index() == 1 ? *std::get<1>(m_state) : std::get<2>(m_state);
    }

  private:
    std::variant<std::monostate, const json*, json> m_state;
};

// -1, 0 or 1. Integers compare exactly; anything involving a float compares as doubles.
int compare_numbers(const json& a, const json& b) {
    if (a.is_number_integer() && b.is_number_integer()) {
        bool a_big = a.is_number_unsigned() &&
                     a.get<std::uint64_t>() >
                         static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        bool b_big = b.is_number_unsigned() &&
                     b.get<std::uint64_t>() >
                         static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        if (a_big || b_big) {
            if (a_big && b_big) {
                auto x = a.get<std::uint64_t>();
                auto y = b.get<std::uint64_t>();
                return x < y ? -1 : (x > y ? 1 : 0);
            }
            return a_big ? 1 : -1;
        }
        auto x = a.get<std::int64_t>();
        auto y = b.get<std::int64_t>();
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    double x = a.get<double>();
    double y = b.get<double>();
    return x < y ? -1 : (x > y ? 1 : 0);
}

// RFC 9535 section 2.3.5.2.2: equality of JSON values, numbers by value and containers deeply.
// Iterative, so deeply nested documents cannot overflow the call stack.
bool values_equal(const json& a, const json& b) {
    std::vector<std::pair<const json*, const json*>> pending{{&a, &b}};
    while (!pending.empty()) {
        auto [x, y] = pending.back();
        pending.pop_back();
        if (x->is_number() && y->is_number()) {
            if (compare_numbers(*x, *y) != 0)
                return false;
            continue;
        }
        if (x->type() != y->type())
            return false;
        switch (x->type()) {
        case json::value_t::array:
            if (x->size() != y->size())
                return false;
            for (std::size_t i = 0; i < x->size(); ++i)
                pending.emplace_back(&(*x)[i], &(*y)[i]);
            break;
        case json::value_t::object:
            if (x->size() != y->size())
                return false;
            for (auto it = x->begin(); it != x->end(); ++it) {
                auto other = y->find(it.key());
                if (other == y->end())
                    return false;
                pending.emplace_back(&it.value(), &*other);
            }
            break;
        default:
            if (*x != *y)
                return false;
        }
    }
    return true;
}

bool equal(const Value& a, const Value& b) {
    if (a.nothing() || b.nothing())
        return a.nothing() && b.nothing();
    return values_equal(a.get(), b.get());
}

// Only numbers with numbers and strings with strings are ordered; anything else is not less.
bool less(const Value& a, const Value& b) {
    if (a.nothing() || b.nothing())
        return false;
    const json& x = a.get();
    const json& y = b.get();
    if (x.is_number() && y.is_number())
        return compare_numbers(x, y) < 0;
    if (x.is_string() && y.is_string())
        // Byte order of UTF-8 is code point order.
        return x.get_ref<const std::string&>() < y.get_ref<const std::string&>();
    return false;
}

bool compare(CompareOp op, const Value& a, const Value& b) {
    switch (op) {
    case CompareOp::eq:
        return equal(a, b);
    case CompareOp::ne:
        return !equal(a, b);
    case CompareOp::lt:
        return less(a, b);
    case CompareOp::le:
        return less(a, b) || equal(a, b);
    case CompareOp::gt:
        return less(b, a);
    case CompareOp::ge:
        return less(b, a) || equal(a, b);
    }
    return false;
}

std::size_t count_code_points(const std::string& s) {
    return static_cast<std::size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

class Evaluator {
  public:
    explicit Evaluator(const json& root) : m_root(root) {}

    // `paths` null: paths are not tracked (queries inside filters).
    std::vector<Located> run(const PathExpr& query, const json& start, PathTree* paths) {
        std::vector<Located> current{Located{&start, PathTree::k_root}};
        std::vector<Located> next;
        for (const Segment& segment : query.segments) {
            next.clear();
            for (const Located& node : current) {
                if (segment.descendant)
                    descend(segment, node, next, paths);
                else
                    apply(segment, node, next, paths);
            }
            current.swap(next);
            if (current.empty())
                break;
        }
        return current;
    }

  private:
    static std::size_t member(PathTree* paths, std::size_t parent, const std::string& name) {
        return paths != nullptr ? paths->add_member(parent, name) : PathTree::k_root;
    }
    static std::size_t element(PathTree* paths, std::size_t parent, std::size_t index) {
        return paths != nullptr ? paths->add_index(parent, index) : PathTree::k_root;
    }

    void apply(const Segment& segment, const Located& node, std::vector<Located>& out,
               PathTree* paths) {
        for (const Selector& selector : segment.selectors)
            select(selector, node, out, paths);
    }

    // Pre-order walk with an explicit stack, so deep documents cannot overflow the call stack;
    // children are pushed in reverse to come off in document order.
    void descend(const Segment& segment, const Located& start, std::vector<Located>& out,
                 PathTree* paths) {
        std::vector<Located> stack{start};
        while (!stack.empty()) {
            Located node = stack.back();
            stack.pop_back();
            apply(segment, node, out, paths);
            const json& v = *node.value;
            if (v.is_array()) {
                for (std::size_t i = v.size(); i-- > 0;)
                    stack.push_back(Located{&v[i], element(paths, node.path, i)});
            } else if (v.is_object()) {
                for (auto it = v.crbegin(); it != v.crend(); ++it)
                    stack.push_back(Located{&it.value(), member(paths, node.path, it.key())});
            }
        }
    }

    void select(const Selector& selector, const Located& node, std::vector<Located>& out,
                PathTree* paths) {
        const json& v = *node.value;
        switch (selector.kind) {
        case SelectorKind::name:
            if (v.is_object()) {
                auto it = v.find(selector.name);
                if (it != v.end())
                    out.push_back(Located{&*it, member(paths, node.path, it.key())});
            }
            return;
        case SelectorKind::wildcard:
            if (v.is_array()) {
                for (std::size_t i = 0; i < v.size(); ++i)
                    out.push_back(Located{&v[i], element(paths, node.path, i)});
            } else if (v.is_object()) {
                for (auto it = v.begin(); it != v.end(); ++it)
                    out.push_back(Located{&it.value(), member(paths, node.path, it.key())});
            }
            return;
        case SelectorKind::index:
            if (v.is_array()) {
                auto size = static_cast<std::int64_t>(v.size());
                std::int64_t i = selector.index < 0 ? size + selector.index : selector.index;
                if (i >= 0 && i < size) {
                    auto u = static_cast<std::size_t>(i);
                    out.push_back(Located{&v[u], element(paths, node.path, u)});
                }
            }
            return;
        case SelectorKind::slice:
            if (v.is_array())
                slice(selector.slice, node, out, paths);
            return;
        case SelectorKind::filter:
            if (v.is_array()) {
                for (std::size_t i = 0; i < v.size(); ++i) {
                    if (test(*selector.filter, v[i]))
                        out.push_back(Located{&v[i], element(paths, node.path, i)});
                }
            } else if (v.is_object()) {
                for (auto it = v.begin(); it != v.end(); ++it) {
                    if (test(*selector.filter, it.value()))
                        out.push_back(Located{&it.value(), member(paths, node.path, it.key())});
                }
            }
            return;
        }
    }

    // RFC 9535 section 2.3.4.2.2.
    void slice(const Slice& s, const Located& node, std::vector<Located>& out, PathTree* paths) {
        const json& v = *node.value;
        auto len = static_cast<std::int64_t>(v.size());
        std::int64_t step = s.step;
        if (step == 0)
            return;
        auto normalize = [len](std::int64_t i) { return i >= 0 ? i : len + i; };
        auto push = [&](std::int64_t i) {
            auto u = static_cast<std::size_t>(i);
            out.push_back(Located{&v[u], element(paths, node.path, u)});
        };
        if (step > 0) {
            std::int64_t lower = std::clamp<std::int64_t>(normalize(s.start.value_or(0)), 0, len);
            std::int64_t upper = std::clamp<std::int64_t>(normalize(s.end.value_or(len)), 0, len);
            for (std::int64_t i = lower; i < upper; i += step)
                push(i);
        } else {
            std::int64_t upper =
                std::clamp<std::int64_t>(normalize(s.start.value_or(len - 1)), -1, len - 1);
            std::int64_t lower =
                std::clamp<std::int64_t>(normalize(s.end.value_or(-len - 1)), -1, len - 1);
            for (std::int64_t i = upper; lower < i; i += step)
                push(i);
        }
    }

    // Calls f with the nodelist of a query inside a filter. An absolute query gives the same
    // nodelist for every node the filter tests, so it runs once per evaluation.
    template <class F> auto with_nodes(const PathExpr& query, const json& current, F&& f) {
        if (query.absolute) {
            auto it = m_absolute.find(&query);
            if (it == m_absolute.end())
                it = m_absolute.emplace(&query, run(query, m_root, nullptr)).first;
            return f(it->second);
        }
        std::vector<Located> list = run(query, current, nullptr);
        return f(list);
    }

    // A singular query's node, straight down the document without building nodelists.
    const json* lookup(const PathExpr& query, const json& current) const {
        const json* v = query.absolute ? &m_root : &current;
        for (const Segment& segment : query.segments) {
            const Selector& selector = segment.selectors.front();
            if (selector.kind == SelectorKind::name) {
                if (!v->is_object())
                    return nullptr;
                auto it = v->find(selector.name);
                if (it == v->end())
                    return nullptr;
                v = &*it;
            } else {
                if (!v->is_array())
                    return nullptr;
                auto size = static_cast<std::int64_t>(v->size());
                std::int64_t i = selector.index < 0 ? size + selector.index : selector.index;
                if (i < 0 || i >= size)
                    return nullptr;
                v = &(*v)[static_cast<std::size_t>(i)];
            }
        }
        return v;
    }

    bool test(const Expr& e, const json& current) {
        switch (e.kind) {
        case ExprKind::logical_or:
            return std::any_of(e.operands.begin(), e.operands.end(),
                               [&](const Expr& op) { return test(op, current); });
        case ExprKind::logical_and:
            return std::all_of(e.operands.begin(), e.operands.end(),
                               [&](const Expr& op) { return test(op, current); });
        case ExprKind::logical_not:
            return !test(e.operands.front(), current);
        case ExprKind::comparison:
            return compare(e.op, value(e.operands[0], current), value(e.operands[1], current));
        case ExprKind::query:
            return exists(e.query, current);
        case ExprKind::function:
            return call_logical(e, current);
        case ExprKind::literal:
            break; // the parser only lets logical expressions, queries and functions through
        }
        return false;
    }

    bool exists(const PathExpr& query, const json& current) {
        if (query.singular())
            return lookup(query, current) != nullptr;
        return with_nodes(query, current, [](const auto& list) { return !list.empty(); });
    }

    Value value(const Expr& e, const json& current) {
        switch (e.kind) {
        case ExprKind::literal:
            return Value(&e.literal);
        case ExprKind::query: {
            const json* v = lookup(e.query, current);
            return v != nullptr ? Value(v) : Value();
        }
        case ExprKind::function:
            return call_value(e, current);
        default:
            return Value(); // logical expressions are never values; the parser rejects them
        }
    }

    Value call_value(const Expr& e, const json& current) {
        switch (e.function) {
        case Function::length: {
            Value arg = value(e.operands[0], current);
            if (arg.nothing())
                return Value();
            const json& v = arg.get();
            if (v.is_string())
                return Value(json(count_code_points(v.get_ref<const std::string&>())));
            if (v.is_array() || v.is_object())
                return Value(json(v.size()));
            return Value();
        }
        case Function::count: {
            std::size_t n = with_nodes(e.operands[0].query, current,
                                       [](const auto& list) { return list.size(); });
            return Value(json(n));
        }
        case Function::value: {
            return with_nodes(e.operands[0].query, current, [](const auto& list) {
                return list.size() == 1 ? Value(list.front().value) : Value();
            });
        }
        case Function::match:
        case Function::search:
            break;
        }
        return Value();
    }

    bool call_logical(const Expr& e, const json& current) {
        if (e.function != Function::match && e.function != Function::search)
            return false; // the parser only lets logical functions be tests
        Value subject = value(e.operands[0], current);
        Value pattern = value(e.operands[1], current);
        if (subject.nothing() || pattern.nothing() || !subject.get().is_string() ||
            !pattern.get().is_string())
            return false;
        const Regex* regex = e.regex_compiled
                                 ? e.regex.get()
                                 : dynamic_regex(pattern.get().get_ref<const std::string&>(),
                                                 e.function == Function::match);
        return regex != nullptr && regex->matches(subject.get().get_ref<const std::string&>());
    }

    // A pattern read from the document, compiled once per evaluation however many nodes use it.
    const Regex* dynamic_regex(const std::string& pattern, bool full) {
        auto& cache = m_regexes[full ? 0 : 1];
        auto it = cache.find(pattern);
        if (it == cache.end())
            it = cache
                     .emplace(pattern,
                              Regex::compile(pattern, full ? RegexMode::full : RegexMode::search))
                     .first;
        return it->second.get();
    }

    const json& m_root;
    std::unordered_map<const PathExpr*, std::vector<Located>> m_absolute;
    std::array<std::unordered_map<std::string, std::shared_ptr<const Regex>>, 2> m_regexes;
};

} // namespace

std::vector<Located> evaluate(const CompiledQuery& query, const json& root, PathTree& paths) {
    return Evaluator(root).run(query.path, root, &paths);
}

} // namespace vaultfwd::jsonpath::detail
