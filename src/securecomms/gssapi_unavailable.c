/* For statically linked programs only (pp_link_static adds pp_gssapi_unavailable): Debian's
 * libssh.a refers to MIT Kerberos' GSSAPI, which Debian ships without static archives. Secure
 * comms never offers or accepts gssapi-with-mic (src/securecomms sets its auth methods to
 * publickey/none), so these are never reached; should they be, every call fails with
 * GSS_S_FAILURE. Never linked into dynamic programs, where they would shadow the real library. */
#include <stddef.h>

typedef unsigned int pp_om_uint32;
#define PP_GSS_S_FAILURE (13u << 16)

void* GSS_C_NT_HOSTBASED_SERVICE = NULL;
void* GSS_C_NT_USER_NAME = NULL;

#define PP_GSS_FAIL(name)                         \
  pp_om_uint32 name(pp_om_uint32* minor_status) { \
    if (minor_status != NULL) *minor_status = 0;  \
    return PP_GSS_S_FAILURE;                      \
  }

PP_GSS_FAIL(gss_accept_sec_context)
PP_GSS_FAIL(gss_acquire_cred)
PP_GSS_FAIL(gss_add_oid_set_member)
PP_GSS_FAIL(gss_create_empty_oid_set)
PP_GSS_FAIL(gss_display_name)
PP_GSS_FAIL(gss_display_status)
PP_GSS_FAIL(gss_get_mic)
PP_GSS_FAIL(gss_import_name)
PP_GSS_FAIL(gss_indicate_mechs)
PP_GSS_FAIL(gss_init_sec_context)
PP_GSS_FAIL(gss_inquire_cred)
PP_GSS_FAIL(gss_inquire_cred_by_mech)
PP_GSS_FAIL(gss_release_buffer)
PP_GSS_FAIL(gss_release_cred)
PP_GSS_FAIL(gss_release_name)
PP_GSS_FAIL(gss_release_oid_set)
PP_GSS_FAIL(gss_test_oid_set_member)
PP_GSS_FAIL(gss_verify_mic)
