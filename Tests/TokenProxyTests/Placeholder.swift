import Testing

// The http proxy tests land with the proxy (issue 6).
@Suite struct TokenProxyPlaceholderTests {}
