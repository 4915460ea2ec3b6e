#ifndef MCP_TUNNEL_CLIBSECRET_SHIM_H
#define MCP_TUNNEL_CLIBSECRET_SHIM_H
#include <libsecret/secret.h>

/* Helpers for what Swift cannot express directly: a SecretSchema has a fixed 32-slot C array,
 * and GHashTable construction takes C function pointers for hashing and freeing. Imported only by
 * the Keyring module. */

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

/* A string→string attribute table that owns copies of its keys and values. */
static inline GHashTable *mcp_tunnel_attributes_new(void) {
  return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

static inline void mcp_tunnel_attributes_set(GHashTable *table, const char *key, const char *value) {
  g_hash_table_insert(table, g_strdup(key), g_strdup(value));
}

/* The value of `key` in an attribute table, or NULL; borrowed from the table. */
static inline const char *mcp_tunnel_attributes_get(GHashTable *table, const char *key) {
  return (const char *)g_hash_table_lookup(table, key);
}

#endif
