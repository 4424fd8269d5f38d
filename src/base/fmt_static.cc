// fmt's compiled part (what libfmt.so holds), for programs linked statically (pp_link_static in
// cmake/peerpods.cmake): Debian ships libfmt only as a shared library. format-inl.h holds the
// definitions; the locale helpers are templates and are instantiated here for char.
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {
template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto decimal_point_impl(locale_ref) -> char;
template FMT_API locale_ref::locale_ref(const std::locale& loc);
template FMT_API auto locale_ref::get<std::locale>() const -> std::locale;
}  // namespace detail
FMT_END_NAMESPACE
