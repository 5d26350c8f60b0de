// SPDX-License-Identifier: Apache-2.0
#include "core/template/render.hpp"

#include "core/inspector/secrets.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <exception>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <utility>

#include "core/template/footprint.hpp"
#include "core/template/gr4vy.hpp"
#include "core/template/scanner.hpp"
#include "core/template/text.hpp"
#include "core/util/strings.hpp"
#include "core/util/view_hash.hpp"

namespace vaultfwd::tmpl {

namespace {

constexpr std::size_t k_max_token_text = 200;

std::string clip(std::string_view text) {
    if (text.size() <= k_max_token_text)
        return std::string(text);
    std::size_t cut = k_max_token_text;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
        --cut;
    return std::string(text.substr(0, cut)) + "…";
}

// The hmac key is a secret written into the template: problems show it as Footprint's
// canonical form does, "<scrubbed>".
std::string scrub(std::string_view text) {
    constexpr std::string_view k_name = "hmac_sha256";
    std::string out;
    std::size_t pos = 0;
    while (true) {
        std::size_t hit = text.find(k_name, pos);
        if (hit == std::string_view::npos)
            break;
        std::size_t open = text.find_first_not_of(" \t", hit + k_name.size());
        if (open == std::string_view::npos || text[open] != '(') {
            out.append(text.substr(pos, hit + k_name.size() - pos));
            pos = hit + k_name.size();
            continue;
        }
        std::size_t close = open + 1;
        while (close < text.size() && !(text[close] == ')' && text[close - 1] != '\\'))
            ++close;
        out.append(text.substr(pos, open + 1 - pos));
        out += "\"<scrubbed>\"";
        pos = close;
        if (pos >= text.size())
            break;
    }
    if (pos < text.size())
        out.append(text.substr(pos));
    return out;
}

Problem make_problem(std::string code, std::string message, std::size_t offset,
                     std::string_view text, std::string reference = {}) {
    Problem p;
    p.code = std::move(code);
    p.message = std::move(message);
    p.offset = offset;
    p.token = clip(scrub(text));
    p.reference = std::move(reference);
    return p;
}

void place(std::string_view body, std::vector<Problem>& problems) {
    std::stable_sort(problems.begin(), problems.end(),
                     [](const Problem& a, const Problem& b) { return a.offset < b.offset; });
    PositionCounter counter(body);
    for (auto& p : problems) {
        auto pos = counter.at(p.offset);
        p.line = pos.line;
        p.column = pos.column;
    }
}

bool is_gr4vy_span(const BraceSpan& span) {
    auto name = trim_unicode(span.inner);
    return is_placeholder_name(name) && parse_gr4vy_placeholder(name).has_value();
}

// Settles `automatic` from the tokens present; on a mix, reports the first token that does not
// belong to the dialect of the first one.
Dialect detect(const BraceScan& braces, const VtexScan& vtex, std::string_view body,
               std::vector<Problem>& problems) {
    bool any_gr4vy = std::any_of(braces.spans.begin(), braces.spans.end(), is_gr4vy_span);
    struct Seen {
        std::size_t offset, end;
        Dialect dialect;
    };
    std::vector<Seen> seen;
    for (const auto& span : braces.spans) {
        bool identifier = is_placeholder_name(trim_unicode(span.inner));
        if (any_gr4vy && identifier)
            seen.push_back({span.begin, span.end, Dialect::gr4vy});
        else
            seen.push_back({span.begin, span.end, Dialect::footprint});
    }
    for (const auto& t : vtex.tokens)
        seen.push_back({t.begin, t.end, Dialect::vtex});
    for (const auto& [b, e] : vtex.malformed)
        seen.push_back({b, e, Dialect::vtex});
    if (seen.empty())
        return Dialect::footprint;
    std::sort(seen.begin(), seen.end(), [](const Seen& a, const Seen& b) { return a.offset < b.offset; });
    Dialect first = seen.front().dialect;
    for (const auto& s : seen) {
        if (s.dialect != first) {
            problems.push_back(make_problem(
                "template.dialect",
                "body has both " + std::string(dialect_name(first)) + " and " +
                    std::string(dialect_name(s.dialect)) +
                    " tokens; choose the dialect with --dialect",
                s.offset, body.substr(s.offset, s.end - s.offset)));
            break;
        }
    }
    return first;
}

// What one distinct token resolved to. Kept small (a value and, rarely, a failure): a render of
// 100 000 distinct tokens holds 100 000 of them.
struct Failure {
    std::string code;
    std::string message;
    std::string reference;
    std::string detail;
};

struct Resolved {
    std::string value;
    std::unique_ptr<Failure> failure; // null when the token resolved
};

Resolved failure(std::string code, std::string message, std::string reference = {},
                 std::string detail = {}) {
    Resolved r;
    r.failure = std::make_unique<Failure>(Failure{std::move(code), std::move(message),
                                                  std::move(reference), std::move(detail)});
    return r;
}

Resolved success(std::string value) {
    Resolved r;
    r.value = std::move(value);
    return r;
}

// Sorts `ids` as std::sort would, but many ids that share a prefix (fp_id_test_…) are ordered
// by an integer key: the eight bytes after the prefix all of them share, padded with zeros,
// radix-sorted a byte at a time (a byte every key shares takes no pass); ids whose keys tie
// are then sorted as strings. (A string that ends sorts before its longer continuations, as
// the zero padding does.) 100 000 distinct fp_ids sort in 3.6 ms, where a stable comparison
// sort of the keys took 5. A few ids (a request's handful of tokens) are sorted by std::sort
// itself: the radix passes' 16 KiB of counts cost more than they save there.
constexpr std::size_t k_radix_from = 64;
void sort_ids(std::vector<std::string_view>& ids) {
    const std::size_t n = ids.size();
    if (n < 2)
        return;
    if (n < k_radix_from) {
        std::sort(ids.begin(), ids.end());
        return;
    }
    const std::string_view first = ids.front();
    std::size_t common = first.size();
    for (const auto id : ids) {
        const std::size_t limit = std::min(common, id.size());
        std::size_t i = 0;
        while (i < limit && id[i] == first[i])
            ++i;
        common = i;
    }
    struct Keyed {
        std::uint64_t key;
        std::size_t index; // in ids
    };
    std::vector<Keyed> keyed(n);
    std::vector<std::array<std::size_t, 256>> counts(8);
    for (std::size_t k = 0; k < n; ++k) {
        const std::string_view id = ids[k];
        std::uint64_t key = 0;
        for (std::size_t i = common; i < common + 8; ++i)
            key = (key << 8) | (i < id.size() ? static_cast<unsigned char>(id[i]) : 0u);
        keyed[k] = Keyed{key, k};
        for (std::size_t d = 0; d < 8; ++d)
            ++counts[d][(key >> (8 * d)) & 0xFF];
    }
    std::vector<Keyed> spare(n);
    for (std::size_t d = 0; d < 8; ++d) {
        auto& count = counts[d];
        if (count[(keyed.front().key >> (8 * d)) & 0xFF] == n)
            continue; // every key has this byte
        std::size_t at = 0;
        for (auto& c : count)
            at += std::exchange(c, at);
        for (const Keyed& k : keyed)
            spare[count[(k.key >> (8 * d)) & 0xFF]++] = k;
        keyed.swap(spare);
    }
    std::vector<std::string_view> sorted(n);
    for (std::size_t k = 0; k < n; ++k)
        sorted[k] = ids[keyed[k].index];
    for (std::size_t b = 0; b < n;) {
        std::size_t e = b + 1;
        while (e < n && keyed[e].key == keyed[b].key)
            ++e;
        if (e - b > 1)
            std::sort(sorted.begin() + static_cast<std::ptrdiff_t>(b),
                      sorted.begin() + static_cast<std::ptrdiff_t>(e));
        b = e;
    }
    ids.swap(sorted);
}

class Resolver {
    static constexpr std::size_t k_batch = 256;

  public:
    explicit Resolver(const RenderRequest& request) : m_req(request) {
        if (m_req.vtex_resolver)
            m_vtex = m_req.vtex_resolver;
        else
            m_vtex = default_vtex_resolver(*m_req.source);
    }

    // Resolves the token at `site` into `out`, a slot of the results set_results() named; a
    // Footprint token whose value must be read is parsed here and read with the next ones, a
    // batch at a time (finish() reads the last batch).
    void resolve(const TokenSite& site, Resolved& out) {
        try {
            switch (site.dialect) {
            case Dialect::gr4vy:
                out = gr4vy(site);
                break;
            case Dialect::vtex:
                out = vtex(site);
                break;
            default:
                footprint(site, out);
                break;
            }
        } catch (const std::exception&) {
            // A vault that cannot decrypt a record throws; the body must not go out anyway.
            out = failure("template.undecryptable", "the value could not be read from the vault");
        }
        if (m_reads.size() == k_batch)
            finish();
    }

    // Reads the values of the Footprint tokens resolve() kept for later in one read of the
    // source (one look for other writers, lookups overlapped), into their results. Batches of
    // a few hundred keep what is pending in cache.
    void finish() {
        if (m_reads.empty())
            return;
        Resolved* results = m_results;
        m_queries.clear();
        for (const auto& r : m_reads)
            m_queries.push_back({r.token.fp_id, r.token.di});
        std::vector<Result<std::optional<std::string>>> values;
        try {
            values = m_req.source->read_fields(m_queries);
        } catch (const std::exception&) {
            // A source that throws: each token on its own, so that only the ones that cannot be
            // read fail.
            for (auto& r : m_reads) {
                Resolved& out = results[r.result];
                try {
                    out = footprint_value(r, m_req.source->read_field(std::string(r.token.fp_id),
                                                                      std::string(r.token.di)));
                } catch (const std::exception&) {
                    out = failure("template.undecryptable",
                                  "the value could not be read from the vault");
                }
            }
            m_reads.clear();
            return;
        }
        for (std::size_t i = 0; i < m_reads.size(); ++i) {
            Resolved& out = results[m_reads[i].result];
            try {
                out = footprint_value(m_reads[i], std::move(values[i]));
            } catch (const std::exception&) {
                out = failure("template.undecryptable",
                              "the value could not be read from the vault");
            }
        }
        m_reads.clear();
    }

    std::vector<std::string> record_ids() {
        sort_ids(m_records);
        m_records.erase(std::unique(m_records.begin(), m_records.end()), m_records.end());
        return std::vector<std::string>(m_records.begin(), m_records.end());
    }

  private:
    bool allowed(std::string_view id) const { return !m_req.may_reveal || m_req.may_reveal(id); }

    // Notes a record read. `id` lives as long as the render (the body, the request, m_owned).
    // Duplicates are dropped once sorted: a table to drop them as they come cost a cache miss
    // per token on a render of 100 000 distinct tokens.
    void read_record(std::string_view id) { m_records.push_back(id); }

    // A Footprint token whose value is to be read: the token parsed (its record id and data
    // identifier are views into the body or the request) and where its result goes.
    struct Read {
        FootprintTokenView token;
        std::size_t result = 0;
    };

    Resolved unknown_record(const FootprintTokenView& view) const {
        const FootprintToken token = view.owned();
        return failure("template.unknown_record", "User " + token.fp_id + " does not exist",
                       token.reference(),
                       "no record \"" + token.fp_id +
                           "\" in the vault ('vaultfwd vault list' shows the ids)");
    }

    void footprint(const TokenSite& site, Resolved& out) {
        auto token = parse_footprint_token_view(site.inner, m_req.global_fp_id);
        if (!token) {
            out = failure(token.error().code, token.error().message, {},
                          explain_footprint_token(site.inner, m_req.global_fp_id));
            return;
        }
        // An unknown record is reported before a forbidden identifier, and a forbidden one is
        // never read. A value found proves the record exists, so the common case looks the
        // record up once.
        if (!allowed(token->di)) {
            if (!m_req.source->has_record(std::string(token->fp_id)))
                out = unknown_record(*token);
            else
                out = failure("template.forbidden", "not allowed to reveal " + std::string(token->di),
                              token->owned().reference());
            return;
        }
        m_reads.push_back(Read{std::move(*token), static_cast<std::size_t>(&out - m_results)});
    }

    Resolved footprint_value(Read& read, Result<std::optional<std::string>>&& value) {
        const FootprintTokenView& token = read.token;
        if (!value)
            return failure("template.undecryptable",
                           "the value could not be read from the vault: " + value.error().message,
                           token.owned().reference());
        if (!*value) {
            if (!m_req.source->has_record(std::string(token.fp_id)))
                return unknown_record(token);
            const std::string reference = token.owned().reference();
            return failure("template.unknown",
                           "Found invalid or unknown data identifiers: " + reference, reference,
                           "record \"" + std::string(token.fp_id) + "\" has no field \"" +
                               std::string(token.di) + "\"");
        }
        read_record(token.fp_id);
        // One filter at a time, so a failure names the filter that failed.
        std::string out = std::move(**value);
        for (const auto& f : token.filters) {
            auto next = apply_filter(f, std::move(out));
            if (!next)
                return failure(next.error().code, next.error().message, token.owned().reference(),
                               "filter \"" + std::string(f.name()) + "\" failed: " + next.error().message);
            out = std::move(*next);
        }
        return success(std::move(out));
    }

    Resolved gr4vy(const TokenSite& site) {
        std::string name(trim_unicode(site.inner));
        auto placeholder = parse_gr4vy_placeholder(name);
        if (!placeholder) {
            std::string message = "unknown placeholder " + name;
            auto digits = name.find_last_not_of("0123456789");
            std::string index = digits + 1 < name.size() ? name.substr(digits + 1) : "1";
            std::vector<std::string> known;
            for (const char* form : {"CARD_NUMBER_", "CARD_EXPIRATION_DATE_", "CARD_EXPIRATION_DATE_M_",
                                     "CARD_EXPIRATION_DATE_MM_", "CARD_EXPIRATION_DATE_YY_",
                                     "CARD_EXPIRATION_DATE_YYYY_"})
                known.push_back(form + index);
            if (auto near = util::nearest(name, known); !near.empty())
                message += " (did you mean " + near + "?)";
            return failure("template.unknown", message, name);
        }
        for (const auto& field : gr4vy_fields(placeholder->field))
            if (!allowed(field))
                return failure("template.forbidden", "not allowed to reveal " + field, name);
        auto value = resolve_gr4vy(*placeholder, m_req.payment_methods, *m_req.source);
        if (!value)
            return failure(value.error().code, value.error().message, name);
        read_record(m_req.payment_methods[placeholder->index - 1]);
        return success(std::move(*value));
    }

    Resolved vtex(const TokenSite& site) {
        std::string ref(site.text);
        // The scanner made this site from a well-formed token: re-read hash and name from it.
        auto scanned = scan_vtex(site.text);
        const VtexToken& t = scanned.tokens.front();
        if (!m_req.vtex_payment.empty() && t.hash != m_req.vtex_payment)
            return failure("template.unknown",
                           "token belongs to payment " + t.hash + ", not " + m_req.vtex_payment, ref);
        if (!allowed(t.name))
            return failure("template.forbidden", "not allowed to reveal " + t.name, ref);
        auto value = m_vtex(t.hash, t.name);
        if (!value)
            return failure(value.error().code, value.error().message, ref);
        read_record(m_owned.emplace_back("vtex_" + t.hash));
        return success(std::move(*value));
    }


  public:
    // The results' storage, which resolve() is given slots of (reserved: it never moves).
    void set_results(Resolved* results) { m_results = results; }

  private:
    const RenderRequest& m_req;
    VtexResolver m_vtex;
    Resolved* m_results = nullptr;
    std::vector<Read> m_reads; // Footprint tokens to read, in order of first appearance
    std::vector<vault::RecordSource::FieldQuery> m_queries; // theirs, as the source is asked
    // Records read, once per distinct token; sorted and deduplicated once, at the end.
    std::vector<std::string_view> m_records;
    std::deque<std::string> m_owned; // ids not found as such in the body or the request
};

// A token's text with its hash, computed once: the table that finds repeated tokens is probed
// to fetch a slot ahead and then looked up, and hashing each text twice was 8 % of a render of
// 100 000 distinct tokens.
struct HashedText {
    std::string_view text;
    std::size_t hash = 0; // util::ViewHash of text

    struct Hash {
        std::size_t operator()(const HashedText& t) const { return t.hash; }
    };
    struct Eq {
        bool operator()(const HashedText& a, const HashedText& b) const {
            return a.hash == b.hash && a.text == b.text;
        }
    };
};

int rank(const std::string& code) {
    static const char* const k_order[] = {
        "template.utf8",     "template.dialect",       "template.syntax",
        "template.unknown_record", "template.forbidden", "template.unknown",
        "template.undecryptable", "template.filter",   "template.internal"};
    for (std::size_t i = 0; i < std::size(k_order); ++i)
        if (code == k_order[i])
            return static_cast<int>(i);
    return static_cast<int>(std::size(k_order));
}

} // namespace

std::optional<Dialect> dialect_from_name(std::string_view name) {
    if (name == "footprint")
        return Dialect::footprint;
    if (name == "gr4vy")
        return Dialect::gr4vy;
    if (name == "vtex")
        return Dialect::vtex;
    if (name == "auto")
        return Dialect::automatic;
    return std::nullopt;
}

std::string_view dialect_name(Dialect dialect) {
    switch (dialect) {
    case Dialect::footprint:
        return "footprint";
    case Dialect::gr4vy:
        return "gr4vy";
    case Dialect::vtex:
        return "vtex";
    case Dialect::automatic:
        break;
    }
    return "auto";
}

namespace {

// What scan() finds, as a render uses it: the tokens as spans of the body (a vtex token's inner
// text is the whole token), without the line and column a render needs only for problems
// (counting lines through a large body would cost more than the rest of the scan) and without
// a copy of each span into a TokenSite (6 MB for 100 000 tokens, each page of it faulted in).
struct Sites {
    Dialect dialect = Dialect::footprint;
    std::vector<BraceSpan> spans; // in body order
    std::vector<Problem> problems;
    std::vector<Problem> warnings;

    TokenSite site(std::string_view body, std::size_t i) const {
        const BraceSpan& s = spans[i];
        return TokenSite{dialect, s.begin, s.end, 0, 0, body.substr(s.begin, s.end - s.begin),
                         s.inner};
    }
};

Sites scan_body(Dialect dialect, std::string_view body) {
    Sites r;
    r.dialect = dialect == Dialect::automatic ? Dialect::footprint : dialect;
    if (auto bad = find_invalid_utf8(body)) {
        r.problems.push_back(make_problem("template.utf8", "body is not valid utf-8", *bad,
                                          body.substr(*bad, 1)));
        place(body, r.problems);
        return r;
    }
    BraceScan braces;
    VtexScan vtex;
    if (dialect != Dialect::vtex)
        braces = scan_braces(body);
    if (dialect == Dialect::vtex || dialect == Dialect::automatic)
        vtex = scan_vtex(body);
    if (dialect == Dialect::automatic) {
        dialect = detect(braces, vtex, body, r.problems);
        r.dialect = dialect;
        if (!r.problems.empty()) {
            place(body, r.problems);
            return r;
        }
    }

    if (dialect == Dialect::vtex) {
        r.spans.reserve(vtex.tokens.size());
        for (const auto& t : vtex.tokens)
            r.spans.push_back(BraceSpan{t.begin, t.end, body.substr(t.begin, t.end - t.begin)});
        for (const auto& [b, e] : vtex.malformed)
            r.problems.push_back(make_problem(
                "template.syntax",
                "vtex token is malformed: expected #vtex#token#<hash>#<name># or #vtex#<name>#<hash>#",
                b, body.substr(b, e - b)));
    } else {
        r.spans = std::move(braces.spans);
        if (dialect == Dialect::gr4vy)
            std::erase_if(r.spans, [](const BraceSpan& span) {
                return !is_placeholder_name(trim_unicode(span.inner));
            });
        for (std::size_t at : braces.unclosed) {
            std::size_t line_end = body.find('\n', at);
            auto text = body.substr(at, std::min(line_end, body.size()) - at);
            r.warnings.push_back(make_problem("template.unclosed",
                                              "'{{' is never closed and is kept as text", at, text));
        }
    }
    place(body, r.problems);
    place(body, r.warnings);
    return r;
}

} // namespace

ScanResult scan(Dialect dialect, std::string_view body) {
    Sites sites = scan_body(dialect, body);
    ScanResult r;
    r.dialect = sites.dialect;
    r.problems = std::move(sites.problems);
    r.warnings = std::move(sites.warnings);
    r.tokens.reserve(sites.spans.size());
    PositionCounter counter(body);
    for (std::size_t i = 0; i < sites.spans.size(); ++i) {
        TokenSite t = sites.site(body, i);
        auto pos = counter.at(t.begin);
        t.line = pos.line;
        t.column = pos.column;
        r.tokens.push_back(t);
    }
    return r;
}

RenderOutcome render(const RenderRequest& req) {
    RenderOutcome out;
    Sites sr = scan_body(req.dialect, req.body);
    const std::vector<BraceSpan>& spans = sr.spans;
    out.dialect = sr.dialect;
    out.warnings = std::move(sr.warnings);
    out.token_count = spans.size();
    std::vector<Problem> problems = std::move(sr.problems);

    std::vector<std::size_t> result_of(spans.size());
    std::vector<Resolved> results;
    if (!spans.empty()) {
        if (!req.source)
            throw std::invalid_argument("render needs a record source");
        Resolver resolver(req);
        // Footprint dedupes tokens: each distinct token text is resolved (and encrypted) once.
        absl::flat_hash_map<HashedText, std::size_t, HashedText::Hash, HashedText::Eq> seen;
        seen.reserve(spans.size());
        results.reserve(spans.size());
        resolver.set_results(results.data());
        // The table is sized for every token up front (no rehash moves a slot): the slot of a
        // token eight places on is fetched while this one is resolved, with the hash it is
        // then looked up with.
        constexpr std::size_t k_ahead = 8;
        std::array<HashedText, k_ahead> ahead;
        auto hashed = [&](std::size_t i) {
            return HashedText{spans[i].inner, util::ViewHash{}(spans[i].inner)};
        };
        for (std::size_t i = 0; i < std::min(spans.size(), k_ahead); ++i)
            ahead[i] = hashed(i);
        for (std::size_t i = 0; i < spans.size(); ++i) {
            const HashedText text = ahead[i % k_ahead];
            if (i + k_ahead < spans.size()) {
                ahead[i % k_ahead] = hashed(i + k_ahead);
                seen.prefetch(ahead[i % k_ahead]);
            }
            auto [it, fresh] = seen.try_emplace(text, results.size());
            if (fresh)
                resolver.resolve(sr.site(req.body, i), results.emplace_back());
            result_of[i] = it->second;
        }
        resolver.finish();
        for (std::size_t i = 0; i < spans.size(); ++i) {
            if (const Failure* f = results[result_of[i]].failure.get()) {
                const auto& site = spans[i];
                Problem p = make_problem(f->code, f->message, site.begin,
                                         req.body.substr(site.begin, site.end - site.begin),
                                         f->reference);
                p.detail = f->detail;
                problems.push_back(std::move(p)); // place() below gives it its line and column
            }
        }
        out.record_ids = resolver.record_ids();
    }

    if (!problems.empty()) {
        place(req.body, problems); // sorts them by offset, then gives each its line and column
        out.problem_count = problems.size();
        if (problems.size() > req.max_problems)
            problems.resize(req.max_problems);
        out.problems = std::move(problems);
        return out;
    }
    out.ok = true;
    if (req.mode == RenderMode::check)
        return out;

    std::size_t size = req.body.size();
    for (std::size_t i = 0; i < spans.size(); ++i)
        size = size - (spans[i].end - spans[i].begin) + results[result_of[i]].value.size();
    out.body.reserve(size);
    std::size_t last = 0;
    for (std::size_t i = 0; i < spans.size(); ++i) {
        out.body.append(req.body.data() + last, spans[i].begin - last);
        out.body += results[result_of[i]].value;
        last = spans[i].end;
    }
    out.body.append(req.body.data() + last, req.body.size() - last);
    if (req.secrets) {
        std::vector<bool> told(results.size(), false);
        for (std::size_t i = 0; i < spans.size(); ++i)
            if (!told[result_of[i]]) {
                told[result_of[i]] = true;
                req.secrets->add(results[result_of[i]].value,
                                 req.body.substr(spans[i].begin, spans[i].end - spans[i].begin));
            }
    }
    return out;
}

const Problem* primary_problem(const RenderOutcome& outcome) {
    const Problem* best = nullptr;
    for (const auto& p : outcome.problems)
        if (!best || rank(p.code) < rank(best->code))
            best = &p;
    return best;
}

Error explain(const Problem& p) {
    const std::string& what = p.detail.empty() ? p.message : p.detail;
    // A byte that is not UTF-8 is no token to show.
    if (p.token.empty() || p.code == "template.utf8")
        return make_error(p.code, what, p.line, p.column);
    return make_error(p.code, p.token + ": " + what, p.line, p.column);
}

int http_status(const RenderOutcome& outcome) {
    const Problem* p = primary_problem(outcome);
    if (!p)
        return 200;
    if (p->code == "template.internal")
        return 500;
    if (p->code == "template.forbidden")
        return 403;
    return 400;
}

std::string footprint_error_message(const RenderOutcome& outcome) {
    const Problem* p = primary_problem(outcome);
    if (!p)
        return {};
    if (p->code != "template.unknown" || outcome.dialect != Dialect::footprint)
        return p->message;
    std::vector<std::string> refs;
    for (const auto& q : outcome.problems)
        if (q.code == "template.unknown" &&
            std::find(refs.begin(), refs.end(), q.reference) == refs.end())
            refs.push_back(q.reference);
    return "Found invalid or unknown data identifiers: " + util::join(refs, "\", \"");
}

} // namespace vaultfwd::tmpl
