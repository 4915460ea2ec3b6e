#ifndef MCP_TUNNEL_CLIBSECRET_SHIM_H
#define MCP_TUNNEL_CLIBSECRET_SHIM_H
#include <dlfcn.h>
#include <libsecret/secret.h>

/* Imported only by the Keyring module.
 *
 * libsecret is not linked: the release binary loads it (and the GLib/GIO it is built on, about a
 * dozen libraries) with dlopen at the first keyring use, so commands that never touch the keyring
 * (`--version`, `--help`, `config`, `audit`, …) do not pay for loading and relocating them, and a
 * machine without libsecret gets a keyring error with the fix instead of a loader failure. Every
 * function the adapter calls is reached through this table; each field has the exact type of the
 * function it points to (__typeof__ of the real declaration), so calls are checked against the
 * headers. scripts/release-build.sh drops the NEEDED entries the pkg-config link line adds. */
typedef struct {
  __typeof__(secret_password_storev_sync) *password_storev_sync;
  __typeof__(secret_password_searchv_sync) *password_searchv_sync;
  __typeof__(secret_password_clearv_sync) *password_clearv_sync;
  __typeof__(secret_retrievable_get_attributes) *retrievable_get_attributes;
  __typeof__(secret_retrievable_retrieve_secret_sync) *retrievable_retrieve_secret_sync;
  __typeof__(secret_value_get_text) *value_get_text;
  __typeof__(secret_value_unref) *value_unref;
  __typeof__(secret_service_get_type) *service_get_type;
  __typeof__(secret_service_open_sync) *service_open_sync;
  __typeof__(secret_collection_for_alias_sync) *collection_for_alias_sync;
  __typeof__(secret_collection_get_locked) *collection_get_locked;
  __typeof__(g_object_unref) *object_unref;
  __typeof__(g_hash_table_new_full) *hash_table_new_full;
  __typeof__(g_hash_table_insert) *hash_table_insert;
  __typeof__(g_hash_table_lookup) *hash_table_lookup;
  __typeof__(g_hash_table_unref) *hash_table_unref;
  __typeof__(g_str_hash) *string_hash;
  __typeof__(g_str_equal) *string_equal;
  __typeof__(g_strdup) *string_duplicate;
  __typeof__(g_free) *memory_free;
  __typeof__(g_list_free_full) *list_free_full;
  __typeof__(g_error_free) *error_free;
  __typeof__(g_quark_to_string) *quark_to_string;
} mcp_tunnel_libsecret;

/* Loads libsecret-1.so.0 and fills `t`. NULL when every function was found; else what failed
 * (dlerror's text, or the name of the missing function). The library stays loaded. */
static inline const char *mcp_tunnel_libsecret_load(mcp_tunnel_libsecret *t) {
  void *lib = dlopen("libsecret-1.so.0", RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    const char *error = dlerror();
    return error != NULL ? error : "libsecret-1.so.0 could not be loaded";
  }
#define MCP_TUNNEL_LOAD(field, name) \
  if ((t->field = (__typeof__(t->field))dlsym(lib, name)) == NULL) return name;
  MCP_TUNNEL_LOAD(password_storev_sync, "secret_password_storev_sync")
  MCP_TUNNEL_LOAD(password_searchv_sync, "secret_password_searchv_sync")
  MCP_TUNNEL_LOAD(password_clearv_sync, "secret_password_clearv_sync")
  MCP_TUNNEL_LOAD(retrievable_get_attributes, "secret_retrievable_get_attributes")
  MCP_TUNNEL_LOAD(retrievable_retrieve_secret_sync, "secret_retrievable_retrieve_secret_sync")
  MCP_TUNNEL_LOAD(value_get_text, "secret_value_get_text")
  MCP_TUNNEL_LOAD(value_unref, "secret_value_unref")
  MCP_TUNNEL_LOAD(service_get_type, "secret_service_get_type")
  MCP_TUNNEL_LOAD(service_open_sync, "secret_service_open_sync")
  MCP_TUNNEL_LOAD(collection_for_alias_sync, "secret_collection_for_alias_sync")
  MCP_TUNNEL_LOAD(collection_get_locked, "secret_collection_get_locked")
  MCP_TUNNEL_LOAD(object_unref, "g_object_unref")
  MCP_TUNNEL_LOAD(hash_table_new_full, "g_hash_table_new_full")
  MCP_TUNNEL_LOAD(hash_table_insert, "g_hash_table_insert")
  MCP_TUNNEL_LOAD(hash_table_lookup, "g_hash_table_lookup")
  MCP_TUNNEL_LOAD(hash_table_unref, "g_hash_table_unref")
  MCP_TUNNEL_LOAD(string_hash, "g_str_hash")
  MCP_TUNNEL_LOAD(string_equal, "g_str_equal")
  MCP_TUNNEL_LOAD(string_duplicate, "g_strdup")
  MCP_TUNNEL_LOAD(memory_free, "g_free")
  MCP_TUNNEL_LOAD(list_free_full, "g_list_free_full")
  MCP_TUNNEL_LOAD(error_free, "g_error_free")
  MCP_TUNNEL_LOAD(quark_to_string, "g_quark_to_string")
#undef MCP_TUNNEL_LOAD
  return NULL;
}

/* The schema of mcp-tunnel's refresh-token items (SPEC §6 attributes). */
static inline const SecretSchema *mcp_tunnel_refresh_token_schema(void) {
  static const SecretSchema schema = {
    "dev.mcp-tunnel.RefreshToken",
    SECRET_SCHEMA_NONE,
    {
      {"application", SECRET_SCHEMA_ATTRIBUTE_STRING},
      {"issuer", SECRET_SCHEMA_ATTRIBUTE_STRING},
      {"client_id", SECRET_SCHEMA_ATTRIBUTE_STRING},
      {"subject", SECRET_SCHEMA_ATTRIBUTE_STRING},
      {"profile", SECRET_SCHEMA_ATTRIBUTE_STRING},
      {NULL, 0},
    },
    0, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  };
  return &schema;
}

/* A string→string attribute table that owns copies of its keys and values (GHashTable takes C
 * function pointers for hashing and freeing, which Swift cannot pass from the table directly). */
static inline GHashTable *mcp_tunnel_attributes_new(const mcp_tunnel_libsecret *t) {
  return t->hash_table_new_full(t->string_hash, t->string_equal, t->memory_free, t->memory_free);
}

static inline void mcp_tunnel_attributes_set(
    const mcp_tunnel_libsecret *t, GHashTable *table, const char *key, const char *value) {
  t->hash_table_insert(table, t->string_duplicate(key), t->string_duplicate(value));
}

/* The value of `key` in an attribute table, or NULL; borrowed from the table. */
static inline const char *mcp_tunnel_attributes_get(
    const mcp_tunnel_libsecret *t, GHashTable *table, const char *key) {
  return (const char *)t->hash_table_lookup(table, key);
}

#endif
