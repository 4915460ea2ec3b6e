import TunnelCore

/// The last line of defence against a token reaching the audit log (SPEC §6, §7).
///
/// Callers are meant to pass only token *fingerprints*; this pass catches mistakes (a `detail`
/// built from an upstream error body, a raw token passed as `tokenID`). Every string field of an
/// event is checked; a value that contains something credential-shaped is replaced as a whole by
/// `CredentialRedactor.placeholder`.
///
/// Why strip rather than refuse: refusing would drop the record, and an audit trail that loses a
/// call because of a bad field is worse than one that shows `<redacted>` where the field was.
///
/// What counts as credential-shaped (chosen to avoid false positives on tool names such as
/// `files.read.v2`, UUID session ids and hex fingerprints):
/// * a JWT/JWS/JWE: three or more base64url segments joined by dots, where the first starts with
///   `eyJ` (base64url of `{"`), or where the first three segments are each at least 16 characters;
/// * an HTTP credential: `Bearer`, `Basic`, `DPoP` or `Negotiate` (any case) followed by
///   whitespace and a run of 8 or more token68 characters (RFC 7235) that is not a plain word.
public enum CredentialRedactor {
  public static let placeholder = "<redacted>"

  /// `event` with every credential-shaped string field replaced, and the JSON names of the
  /// fields that were replaced.
  public static func redact(_ event: AuditEvent) -> (event: AuditEvent, redactedFields: [String]) {
    var copy = event
    var fields: [String] = []
    func scrub(_ value: inout String?, _ name: String) {
      guard let current = value, looksLikeCredential(current) else { return }
      value = placeholder
      fields.append(name)
    }
    var profile: String? = copy.profile
    scrub(&profile, "profile")
    copy.profile = profile ?? placeholder
    scrub(&copy.tenant, "tenant")
    scrub(&copy.actor, "actor")
    scrub(&copy.session, "session")
    scrub(&copy.method, "method")
    scrub(&copy.tool, "tool")
    scrub(&copy.prompt, "prompt")
    scrub(&copy.resource, "resource")
    scrub(&copy.rpcID, "rpc_id")
    scrub(&copy.tokenID, "token_id")
    scrub(&copy.detail, "detail")
    return (copy, fields)
  }

  /// Whether `text` contains a bearer-style credential or a JWT-shaped value anywhere in it.
  public static func looksLikeCredential(_ text: String) -> Bool {
    let bytes = Array(text.utf8)
    return containsJWT(bytes) || containsAuthorizationCredential(bytes)
  }

  private static func isBase64URL(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
      true
    default: false
    }
  }

  private static func containsJWT(_ bytes: [UInt8]) -> Bool {
    var index = 0
    while index < bytes.count {
      guard isBase64URL(bytes[index]), index == 0 || !isBase64URL(bytes[index - 1]) else {
        index += 1
        continue
      }
      // Collect dot-separated base64url segments starting at a segment boundary.
      var segments: [ArraySlice<UInt8>] = []
      var cursor = index
      while true {
        let start = cursor
        while cursor < bytes.count, isBase64URL(bytes[cursor]) { cursor += 1 }
        segments.append(bytes[start..<cursor])
        if cursor < bytes.count, bytes[cursor] == UInt8(ascii: "."), segments.count < 5 {
          cursor += 1
        } else {
          break
        }
      }
      if segments.count >= 3 {
        let (first, second, third) = (segments[0], segments[1], segments[2])
        let headerLike = first.starts(with: Array("eyJ".utf8)) && first.count >= 10 && second.count >= 2
        let longSegments = first.count >= 16 && second.count >= 16 && third.count >= 16
        if headerLike || longSegments { return true }
      }
      index = max(cursor, index + 1)
    }
    return false
  }

  private static func isToken68(_ byte: UInt8) -> Bool {
    isBase64URL(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "~") || byte == UInt8(ascii: "+")
      || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "=")
  }

  /// Plain words ("Basic authentication failed") are not credentials: a credential has a digit,
  /// a symbol, or an upper-case letter after a lower-case one.
  private static func looksRandom(_ run: ArraySlice<UInt8>) -> Bool {
    var sawLower = false
    for byte in run {
      switch byte {
      case UInt8(ascii: "a")...UInt8(ascii: "z"): sawLower = true
      case UInt8(ascii: "A")...UInt8(ascii: "Z"): if sawLower { return true }
      default: return true
      }
    }
    return false
  }

  private static let schemes = ["bearer", "basic", "dpop", "negotiate"].map { Array($0.utf8) }

  private static func containsAuthorizationCredential(_ bytes: [UInt8]) -> Bool {
    let lower = bytes.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
    for scheme in schemes {
      var start = 0
      while start + scheme.count < lower.count {
        guard lower[start..<start + scheme.count].elementsEqual(scheme),
          start == 0 || !isBase64URL(lower[start - 1])
        else {
          start += 1
          continue
        }
        var cursor = start + scheme.count
        let afterScheme = cursor
        while cursor < lower.count, lower[cursor] == UInt8(ascii: " ") || lower[cursor] == UInt8(ascii: "\t") {
          cursor += 1
        }
        if cursor > afterScheme {
          let valueStart = cursor
          while cursor < bytes.count, isToken68(bytes[cursor]) { cursor += 1 }
          // `realm="x"` and similar challenge parameters stop at the quote and stay short.
          if cursor - valueStart >= 8, looksRandom(bytes[valueStart..<cursor]) { return true }
        }
        start += 1
      }
    }
    return false
  }
}
