/// How long to wait before reconnect attempt `n`: exponential growth with "equal jitter".
///
/// The base delay doubles from `initial` up to `maximum`; the actual delay is drawn uniformly from
/// `[base × (1 − jitter), base]`, so many tunnels that lost the same bastion do not reconnect in
/// lock step, yet each still backs off. Pure: the randomness comes in as a number in `0..<1`.
public struct ReconnectBackoff: Sendable, Equatable {
  public var initial: Duration
  public var maximum: Duration
  public var multiplier: Double
  /// Fraction of the base delay that is random, `0...1`.
  public var jitter: Double

  public init(
    initial: Duration = .milliseconds(250), maximum: Duration = .seconds(30), multiplier: Double = 2,
    jitter: Double = 0.5
  ) {
    self.initial = initial
    self.maximum = max(maximum, initial)
    self.multiplier = max(multiplier, 1)
    self.jitter = min(max(jitter, 0), 1)
  }

  /// The delay before attempt `attempt` (1-based) without jitter.
  public func baseDelay(attempt: Int) -> Duration {
    let initialSeconds = Self.seconds(initial)
    let maximumSeconds = Self.seconds(maximum)
    let exponent = Double(max(attempt, 1) - 1)
    let grown = initialSeconds * pow(multiplier, min(exponent, 64))
    return .nanoseconds(Int64((min(grown, maximumSeconds) * 1e9).rounded()))
  }

  /// The delay before attempt `attempt`, given a uniform random number `unit` in `0..<1`.
  public func delay(attempt: Int, unit: Double) -> Duration {
    let base = Self.seconds(baseDelay(attempt: attempt))
    let u = min(max(unit, 0), 1)
    let seconds = base * (1 - jitter) + base * jitter * u
    return .nanoseconds(Int64((seconds * 1e9).rounded()))
  }

  static func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
  }

  private func pow(_ base: Double, _ exponent: Double) -> Double {
    var result = 1.0
    var i = 0.0
    while i < exponent {
      result *= base
      i += 1
    }
    return result
  }
}

/// A small, seedable random source (SplitMix64) so state machines stay deterministic values.
public struct SplitMix64: RandomNumberGenerator, Sendable, Equatable {
  private var state: UInt64
  public init(seed: UInt64) { state = seed }
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  /// Uniform in `0..<1`.
  public mutating func nextUnit() -> Double { Double(next() >> 11) / Double(UInt64(1) << 53) }
}
