// SPDX-License-Identifier: MIT
// Fuzz target for the redirect xattr rules (spec §2.3: validate_redirect in ovlcore/xattr.hpp and
// parse_redirect of the scoped-redirect extension in ovlcore/extensions.hpp) and the overlay xattr
// name escaping (spec §2.1). The input is the raw xattr value (and, for §2.1, a name).
#include <ovlcore/extensions.hpp>
#include <ovlcore/xattr.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

// §2.3 written out independently: "/c1/.../cn" with every component non-empty.
bool absolute_oracle(std::string_view text) {
    if (text.empty() || text.front() != '/') return false;
    std::size_t components = 0;
    for (std::size_t begin = 1; begin <= text.size();) {
        const std::size_t end = std::min(text.find('/', begin), text.size());
        if (end == begin) return false; // "//", or a trailing '/'
        ++components;
        begin = end + 1;
    }
    return components > 0;
}

// Whether the kernel accepts `raw` (§2.3), and the text it then uses.
bool valid_oracle(std::string_view raw, std::string_view& text) {
    if (raw.empty()) return false;
    std::size_t n = 0;
    while (n < raw.size() && raw[n] != '\0') ++n;
    text = raw.substr(0, n);
    if (!text.empty() && text.front() == '/') return absolute_oracle(text);
    return text.find('/') == std::string_view::npos;
}

void check_parse_redirect(std::string_view raw, std::string_view text, bool valid) {
    using ovlcore::data_redirect_scope;
    using ovlcore::redirect_form;
    for (const auto scope :
         {data_redirect_scope::kernel, data_redirect_scope::scoped, data_redirect_scope::strict}) {
        for (const bool lower_metacopy : {false, true}) {
            const auto r = ovlcore::parse_redirect(raw, scope, lower_metacopy);
            if (!r) check(r.error() == std::errc::invalid_argument);
            const bool scoping = scope != data_redirect_scope::kernel && lower_metacopy;
            if (scoping && !raw.empty() && text.starts_with("//")) {
                // `//c1/.../cn`: the rest must be a valid absolute redirect.
                const bool ok = absolute_oracle(text.substr(1));
                check(r.has_value() == ok);
                if (ok) check(r->form == redirect_form::data_only && r->path == text.substr(1));
                continue;
            }
            // Everywhere else validate_redirect() exactly, classified by its first byte.
            check(r.has_value() == valid);
            if (!valid) continue;
            check(r->path == text);
            if (!ovlcore::is_absolute_redirect(text))
                check(r->form == redirect_form::relative);
            else if (scope == data_redirect_scope::strict && lower_metacopy)
                check(r->form == redirect_form::data_only);
            else
                check(r->form == redirect_form::absolute);
        }
    }
}

// §2.1: P + "overlay." + X is shown as P + X, other P* names are hidden, the rest is unchanged;
// escape_xattr_name is the inverse for every name a user can see.
void check_xattr_names(std::string_view name) {
    for (const bool userxattr : {false, true}) {
        const std::string_view prefix = ovlcore::xattr_prefix(userxattr);
        const std::string real = ovlcore::escape_xattr_name(name, userxattr);
        const auto shown = ovlcore::unescape_xattr_name(real, userxattr);
        check(shown.has_value() && *shown == name);
        if (name.starts_with(prefix))
            check(real ==
                  std::string(prefix) + "overlay." + std::string(name.substr(prefix.size())));
        else
            check(real == name);
        const auto direct = ovlcore::unescape_xattr_name(name, userxattr);
        if (!name.starts_with(prefix)) {
            check(direct.has_value() && *direct == name);
        } else if (!name.substr(prefix.size()).starts_with("overlay.")) {
            check(!direct.has_value());
        } else {
            check(direct.has_value() && ovlcore::escape_xattr_name(*direct, userxattr) == name);
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    const std::string_view raw(reinterpret_cast<const char*>(bytes), size);

    std::string_view text;
    const bool valid = valid_oracle(raw, text);
    check(ovlcore::redirect_text(raw) == raw.substr(0, raw.find('\0')));
    const auto r = ovlcore::validate_redirect(raw);
    check(r.has_value() == valid);
    if (!r) {
        check(r.error() == std::errc::invalid_argument); // §2.3: EINVAL
    } else {
        // The text before the first NUL, within the value; valid again on its own, and with any
        // bytes after a NUL.
        check(*r == text && r->size() <= raw.size() && r->data() == raw.data());
        check(r->find('\0') == std::string_view::npos);
        check(ovlcore::is_absolute_redirect(*r) == (!r->empty() && r->front() == '/'));
        if (r->empty()) {
            check(raw.front() == '\0'); // the empty relative redirect (xattr.hpp note)
        } else {
            const auto again = ovlcore::validate_redirect(*r);
            check(again.has_value() && *again == *r);
            std::string padded(*r);
            padded.push_back('\0');
            padded.append(raw);
            const auto with_tail = ovlcore::validate_redirect(padded);
            check(with_tail.has_value() && *with_tail == *r);
        }
        if (ovlcore::is_absolute_redirect(*r)) check(ovlcore::is_valid_absolute_redirect(*r));
    }
    check_parse_redirect(raw, text, valid);
    check_xattr_names(raw);
    return 0;
}
