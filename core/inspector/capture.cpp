// SPDX-License-Identifier: Apache-2.0
#include "core/inspector/capture.hpp"

namespace vaultfwd::inspector {

namespace {

std::string too_large_note(std::size_t limit) {
    return "not kept: over the inspector's capture limit of " + std::to_string(limit) + " bytes";
}

} // namespace

void Capture::keep(Message& m, const std::string& body) {
    std::lock_guard lock(mutex);
    m.body_bytes = body.size();
    if (body.size() > max_bytes) {
        m.body.clear();
        m.withheld = too_large_note(max_bytes);
        return;
    }
    m.body = body;
    m.withheld.clear();
}

TeeSource::TeeSource(std::shared_ptr<http::BodySource> inner, std::shared_ptr<Capture> capture,
                     Message Capture::*message)
    : m_inner(std::move(inner)), m_capture(std::move(capture)), m_message(message) {}

http::BodySource::Step TeeSource::next(std::string& out) {
    const std::size_t before = out.size();
    Step step = m_inner->next(out);
    std::lock_guard lock(m_capture->mutex);
    Message& m = (*m_capture).*m_message;
    if (step == Step::piece) {
        const std::size_t n = out.size() - before;
        m.body_bytes += n;
        if (m.withheld.empty()) {
            if (m.body.size() + n > m_capture->max_bytes) {
                m.body.clear();
                m.body.shrink_to_fit();
                m.withheld = too_large_note(m_capture->max_bytes);
            } else {
                m.body.append(out, before, n);
            }
        }
    } else if (step == Step::end) {
        m.ended = true;
    } else if (step == Step::failed && m.withheld.empty()) {
        // A body cut short may end inside a value: nothing of it is shown.
        m.body.clear();
        m.withheld = "not kept: the body broke off (" + m_inner->error_code() + ")";
    }
    return step;
}

} // namespace vaultfwd::inspector
