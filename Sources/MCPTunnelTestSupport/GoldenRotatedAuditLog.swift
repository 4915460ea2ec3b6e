/// A rotated audit log written by an independent implementation (Python `hashlib`), shared by the
/// AuditLog and CLI tests so both pin the same bytes.
///
/// dev.jsonl.2 holds seq 1–2, dev.jsonl.1 seq 3–4, dev.jsonl seq 5–6, each later file opening with
/// a chain-start line that links to the last line of the file before; `next` is what the writer's
/// next rotation would start the new dev.jsonl with.
public enum GoldenRotatedAuditLog {
  public static let rotated2: [String] = [
    #"{"v":1,"seq":0,"ts":"2026-11-21T09:59:59.000Z","event":"chain_start","nonce":"0a1b2c3d4e5f60718293a4b5c6d7e8f9","prev":"0000000000000000000000000000000000000000000000000000000000000000"}"#,
    #"{"v":1,"seq":1,"ts":"2026-11-21T10:00:00.000Z","event":"tunnel_up","profile":"dev","tenant":"acme","actor":"dev1","session":"s-1","outcome":"ok","prev":"79b4c547bd1359bdee54a024800adbb2eefa9080b2273a08cff5c5d919710d44"}"#,
    #"{"v":1,"seq":2,"ts":"2026-11-21T10:00:01.000Z","event":"call","profile":"dev","tenant":"acme","actor":"dev1","session":"s-1","method":"tools/call","tool":"search","rpc_id":"1","status":200,"outcome":"ok","duration_ms":5,"prev":"065d3690fe3508acf20390a8f3e11b332ea52882bb143e7f2915c37d2c9f115b"}"#,
  ]
  public static let rotated1: [String] = [
    #"{"v":1,"seq":2,"ts":"2026-11-21T10:00:01.500Z","event":"chain_start","nonce":"1a1b2c3d4e5f60718293a4b5c6d7e8f9","previous_file":"dev.jsonl.1","prev":"612aeb2775a64c2668143e61137542c1f783d656219b2eabbb4dd169286b70a8"}"#,
    #"{"v":1,"seq":3,"ts":"2026-11-21T10:00:02.000Z","event":"call","profile":"dev","tenant":"acme","actor":"dev1","session":"s-1","method":"tools/call","tool":"fetch","rpc_id":"2","status":200,"outcome":"ok","duration_ms":5,"prev":"b459443db14494b8b676ab0414b0a1742bbc5e5dee2564b7227ee69ff7d79996"}"#,
    #"{"v":1,"seq":4,"ts":"2026-11-21T10:00:03.000Z","event":"call","profile":"dev","tenant":"acme","actor":"dev1","session":"s-1","method":"tools/call","tool":"search","rpc_id":"3","status":200,"outcome":"ok","duration_ms":5,"prev":"21c3c6d53cb892088379ff51dca6f7f3f2539396cadec9071030539fa166bef4"}"#,
  ]
  public static let current: [String] = [
    #"{"v":1,"seq":4,"ts":"2026-11-21T10:00:03.500Z","event":"chain_start","nonce":"2a1b2c3d4e5f60718293a4b5c6d7e8f9","previous_file":"dev.jsonl.1","prev":"bd9d4113890450df3e4c05afa140651c9b3e862aef23bc3371b89735769a2be7"}"#,
    #"{"v":1,"seq":5,"ts":"2026-11-21T10:00:04.000Z","event":"call","profile":"dev","tenant":"acme","actor":"dev1","session":"s-1","method":"tools/call","tool":"list","rpc_id":"4","status":200,"outcome":"ok","duration_ms":5,"prev":"57ea1888bf116810d3bbe1ada704cc2e018f8a9eb7a34e7939f15446c9e0cd4b"}"#,
    #"{"v":1,"seq":6,"ts":"2026-11-21T10:00:05.000Z","event":"call","profile":"dev","tenant":"acme","actor":"dev1","session":"s-1","method":"tools/call","tool":"search","rpc_id":"5","status":200,"outcome":"ok","duration_ms":5,"prev":"e8d6869eb11ddde664d0fc673b2d06cd3d92432b153ef3c21e9fbac8f9794929"}"#,
  ]
  /// Half a record: what a writer killed mid-write leaves.
  public static let tornTail: [String] = [
    #"{"v":1,"seq":5,"ts":"2026-11-21T10:00:09.000Z","event":"call","profile"#
  ]
  /// dev.jsonl after a rotation of a dev.jsonl.1 that ends with `tornTail`.
  public static let afterTorn: [String] = [
    #"{"v":1,"seq":4,"ts":"2026-11-21T10:00:03.500Z","event":"chain_start","nonce":"4a1b2c3d4e5f60718293a4b5c6d7e8f9","previous_file":"dev.jsonl.1","prev":"b4eecf680a373148f9dbbd2a31f21948e3ec546b85f4198b23d7755916a524c8"}"#,
    #"{"v":1,"seq":5,"ts":"2026-11-21T10:00:04.000Z","event":"call","profile":"dev","tenant":"acme","actor":"dev1","session":"s-1","method":"tools/call","tool":"list","rpc_id":"4","status":200,"outcome":"ok","duration_ms":5,"prev":"3da7a21b76150b5eb0afe1b615e28b0abab11fbd67edf048edf2388907f230ba"}"#,
  ]
  public static let next: [String] = [
    #"{"v":1,"seq":6,"ts":"2026-11-21T10:00:05.500Z","event":"chain_start","nonce":"3a1b2c3d4e5f60718293a4b5c6d7e8f9","previous_file":"dev.jsonl.1","prev":"46e407ad4c53e9acd6b227236ffaf83df542596ef7cbb484e649c9cfddc30854"}"#,
    #"{"v":1,"seq":7,"ts":"2026-11-21T10:00:06.000Z","event":"call","profile":"dev","tenant":"acme","actor":"dev1","session":"s-1","method":"tools/call","tool":"write","rpc_id":"6","status":200,"outcome":"ok","duration_ms":5,"prev":"b92ea546961e62cc92671e225c28202839c33b5ab1fc8135f24cc305c49c819f"}"#,
  ]
}
