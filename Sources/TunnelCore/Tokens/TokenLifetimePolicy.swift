import Foundation

/// When a tenant token expires, when it is re-minted, and until when a request may still carry it
/// (SPEC §4, USE-09, TX-13). Pure: every date comes from the caller, so tests need no clock.
///
/// - Lifetime: `min(expires_in, max_ttl)`; `max_ttl` when the issuer did not say.
/// - Re-mint ahead of expiry by `lead = min(60 s, lifetime / 4)` plus a jitter of up to
///   `min(15 s, lifetime / 10)`, so many tunnels started together do not hit the issuer together
///   and a 15-minute token is renewed 60–75 s early while a 20-second lab token is renewed after
///   about 13–15 s.
/// - A request is never sent with less than `requestMargin = min(10 s, lifetime / 10)` left: the
///   broker mints first (the laptop-sleep case, where the scheduled re-mint never ran).
public struct TokenLifetimePolicy: Sendable, Equatable {
  public var maxTTL: Duration

  public init(maxTTL: Duration) { self.maxTTL = maxTTL }

  public func lifetime(expiresIn: Duration?) -> Duration {
    guard let expiresIn, expiresIn > .zero else { return maxTTL }
    return min(expiresIn, maxTTL)
  }

  public func expiry(receivedAt: Date, expiresIn: Duration?) -> Date {
    receivedAt.addingTimeInterval(Self.seconds(lifetime(expiresIn: expiresIn)))
  }

  public func lead(lifetime: Duration) -> Duration { min(.seconds(60), lifetime / 4) }

  public func maximumJitter(lifetime: Duration) -> Duration { min(.seconds(15), lifetime / 10) }

  /// When to re-mint a token expiring at `expiresAt`; `jitter` is a fraction in 0…1.
  public func remintDate(expiresAt: Date, lifetime: Duration, jitter: Double) -> Date {
    let early = lead(lifetime: lifetime) + maximumJitter(lifetime: lifetime) * min(max(jitter, 0), 1)
    return expiresAt.addingTimeInterval(-Self.seconds(early))
  }

  public func requestMargin(lifetime: Duration) -> Duration { min(.seconds(10), lifetime / 10) }

  /// Whether a request may leave now with a token expiring at `expiresAt`.
  public func isFresh(expiresAt: Date, lifetime: Duration, now: Date) -> Bool {
    expiresAt.timeIntervalSince(now) > Self.seconds(requestMargin(lifetime: lifetime))
  }

  static func seconds(_ d: Duration) -> TimeInterval {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
  }
}
