/// The commented template `config init` writes. A unit test decodes it, so it always stays valid.
enum ConfigTemplate {
  static let text = """
    # mcp-tunnel configuration (TOML). Flags override this file; unknown keys are errors.
    # Every key is shown with its default or an example. Reference: `man mcp-tunnel`, README.md.

    default_profile = "prod"

    # ── Identity: where you log in (OAuth 2.1 / OpenID Connect) ─────────────────────────────
    [profiles.prod.idp]
    # Discovery tries RFC 8414 then OpenID Connect metadata. http:// is accepted for loopback only.
    issuer    = "https://idp.example.com/realms/eng"
    # A public client registered at the IdP for mcp-tunnel (no secret).
    client_id = "mcp-tunnel"
    scopes    = ["openid", "offline_access"]
    # A fixed loopback redirect, for IdPs that need an exact match (default: an ephemeral port).
    # redirect_uri = "http://127.0.0.1:53682/callback"
    # true: proceed when discovery omits code_challenge_methods_supported (PKCE S256 is still used).
    pkce_metadata_override = false

    # ── Secrets: how the tenant-scoped MCP token is minted ───────────────────────────────────
    [profiles.prod.session]
    # "token-exchange" (RFC 8693) or "resource-refresh" (RFC 8707 refresh with a tenant resource).
    method   = "token-exchange"
    # Where to mint; default: the issuer's token_endpoint.
    # endpoint = "https://sts.example.com/oauth/token"
    # The MCP server's canonical https URI; {tenant} is replaced by the tenant name.
    resource = "https://mcp.example.com/t/{tenant}/mcp"
    # Optional; {tenant} allowed.
    # audience = "mcp-{tenant}"
    scope    = "mcp:tools"
    # A token is re-minted at the latest after this, whatever expires_in says (at most 15m).
    max_ttl  = "15m"
    tenants  = ["acme", "globex"]
    default_tenant = "acme"
    # `up` stops by itself (exit 0, the reason in `stopped`) this long after it started; "0s" = never.
    # max_duration = "12h"
    # `up` stops after this long without a call (tcp mode: without a connection); "0s" = never.
    # These two may stand alone in [session] for a tcp-mode profile.
    # idle_timeout = "0s"
    # The longest an elevated token from `mcp-tunnel elevate` is used; a longer --for is clamped.
    # elevate_max = "5m"

    # ── Transport: the SSH path to the MCP server ────────────────────────────────────────────
    [profiles.prod.ssh]
    # Bastions in order, as in `ssh -J`: "[user@]host[:port]". A name may be a Host of your ssh
    # config: its HostName, User, Port, IdentityFile, ProxyJump… apply as `ssh -G` prints them;
    # a user@ or :port written here wins.
    jump        = ["alice@bastion.example.com:22"]
    # Optional final SSH host reached through the jumps (or through its own ProxyJump).
    # host      = "alice@mcp-node.internal:22"
    # The MCP server as seen from the last SSH hop.
    target      = "127.0.0.1:8080"
    # The OpenSSH client config the names above are looked up in; "none" to use them as written.
    # ssh_config = "~/.ssh/config"
    # Default: each hop's UserKnownHostsFile, else ~/.ssh/known_hosts. Written here, it wins for every hop.
    # known_hosts = "~/.ssh/known_hosts"
    # Key file, tried after the agent (SSH_AUTH_SOCK); written here, it replaces every hop's IdentityFile.
    # identity  = "~/.ssh/id_ed25519"
    # OpenSSH user certificate for that key; by default <identity>-cert.pub when it exists.
    # certificate = "~/.ssh/id_ecdsa-cert.pub"
    # Default: each hop's ServerAliveInterval, else 15s. Written here, it wins for every hop.
    # keepalive = "15s"
    # "strict" refuses unknown keys; "accept-new" records them. A changed key is always refused.
    host_key_policy = "strict"

    # ── Ports: the local listener ─────────────────────────────────────────────────────────────
    [profiles.prod.listen]
    # Loopback only.
    address = "127.0.0.1:7700"
    # "http": token-injecting MCP proxy; "tcp": raw forward, no login needed.
    mode    = "http"
    # Who may connect: "same-user" (only you; other users' connections are refused and audited)
    # or "any-local-user". Loopback is shared by every user and container on the machine.
    peers   = "same-user"

    """
}
