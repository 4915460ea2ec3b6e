import Foundation
import Synchronization

#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif

/// One HTTP response as the lab saw it. Redirects are never followed, so a `302` and its
/// `Location` are observable (the PKCE helper needs the redirect to the loopback listener).
public struct LabHTTPResponse: Sendable {
  public let status: Int
  /// Header names are lowercased.
  public let headers: [String: String]
  public let body: Data

  public var text: String { String(decoding: body, as: UTF8.self) }
  public var location: String? { headers["location"] }

  /// The body as a JSON object; throws with the status and body when it is not one.
  public func json() throws -> [String: Any] {
    guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
      throw LabError("expected a JSON object, got HTTP \(status): \(text.prefix(500))")
    }
    return object
  }

  /// A string member of the JSON body, or nil.
  public func string(_ key: String) -> String? { (try? json())?[key] as? String }
}

/// A small HTTP client for talking to the lab's peers like a browser or an OAuth client would.
///
/// Each instance has its own cookie jar (a user's browser session at the IdP is one client), kept
/// by hand because the redirect-refusing session must not share global cookie storage between
/// tests. Request bodies are sent as given; nothing here logs them.
public final class LabHTTPClient: Sendable {
  private let session: URLSession
  private let cookies = Mutex<[String: String]>([:])

  public init(timeout: TimeInterval = 30) {
    let configuration = URLSessionConfiguration.ephemeral
    configuration.httpShouldSetCookies = false
    configuration.httpCookieAcceptPolicy = .never
    configuration.timeoutIntervalForRequest = timeout
    configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
    session = URLSession(configuration: configuration, delegate: RedirectRefusingDelegate(), delegateQueue: nil)
  }

  deinit { session.finishTasksAndInvalidate() }

  /// Sends a request; `body` with `contentType`. Never follows redirects.
  public func send(
    _ method: String, _ url: URL, body: Data? = nil, contentType: String? = nil, headers: [String: String] = [:]
  ) async throws -> LabHTTPResponse {
    var request = URLRequest(url: url)
    request.httpMethod = method
    request.httpBody = body
    if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
    for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
    let cookieHeader = cookies.withLock { jar in jar.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ") }
    if !cookieHeader.isEmpty { request.setValue(cookieHeader, forHTTPHeaderField: "Cookie") }

    let (data, response): (Data, URLResponse)
    do {
      (data, response) = try await session.data(for: request)
    } catch {
      throw LabError("\(method) \(url.absoluteString) failed: \(error)")
    }
    guard let http = response as? HTTPURLResponse else { throw LabError("\(method) \(url): not an HTTP response") }
    var lowered: [String: String] = [:]
    for (key, value) in http.allHeaderFields {
      if let key = key as? String, let value = value as? String { lowered[key.lowercased()] = value }
    }
    if let setCookie = lowered["set-cookie"] { remember(setCookie: setCookie) }
    return LabHTTPResponse(status: http.statusCode, headers: lowered, body: data)
  }

  public func get(_ url: URL, headers: [String: String] = [:]) async throws -> LabHTTPResponse {
    try await send("GET", url, headers: headers)
  }

  /// POSTs `application/x-www-form-urlencoded` fields, in order.
  public func postForm(
    _ url: URL, _ fields: [(String, String)], headers: [String: String] = [:]
  ) async throws -> LabHTTPResponse {
    try await send(
      "POST", url, body: Data(LabForm.encode(fields).utf8), contentType: "application/x-www-form-urlencoded",
      headers: headers)
  }

  /// Sends a JSON object body.
  public func sendJSON(
    _ method: String, _ url: URL, _ object: [String: Any], headers: [String: String] = [:]
  ) async throws -> LabHTTPResponse {
    let body = try JSONSerialization.data(withJSONObject: object)
    return try await send(method, url, body: body, contentType: "application/json", headers: headers)
  }

  /// Keeps `name=value` of each cookie in a (possibly comma-joined) `Set-Cookie` header.
  private func remember(setCookie: String) {
    cookies.withLock { jar in
      for part in setCookie.split(separator: ",") {
        guard let pair = part.split(separator: ";").first else { continue }
        let nameValue = pair.split(separator: "=", maxSplits: 1)
        guard nameValue.count == 2 else { continue }
        let name = nameValue[0].trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, !name.contains(" ") else { continue }
        jar[name] = String(nameValue[1])
      }
    }
  }
}

/// Refuses every redirect so the caller sees the 3xx itself.
private final class RedirectRefusingDelegate: NSObject, URLSessionTaskDelegate, Sendable {
  func urlSession(
    _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
  ) {
    completionHandler(nil)
  }
}

/// `application/x-www-form-urlencoded` and query-string helpers.
public enum LabForm {
  /// Characters left alone in a form value (RFC 3986 unreserved).
  private static let unreserved = CharacterSet(
    charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

  public static func escape(_ value: String) -> String {
    value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? value
  }

  public static func encode(_ fields: [(String, String)]) -> String {
    fields.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
  }

  /// The query items of `url` as a dictionary (last value wins).
  public static func query(of url: URL) -> [String: String] {
    let items = URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems ?? []
    var result: [String: String] = [:]
    for item in items { result[item.name] = item.value ?? "" }
    return result
  }
}

/// Decodes the claims of a JWT without verifying it (the peers verify; tests only look).
public enum LabJWT {
  public static func claims(_ token: String) throws -> [String: Any] {
    try part(token, 1)
  }

  public static func header(_ token: String) throws -> [String: Any] {
    try part(token, 0)
  }

  private static func part(_ token: String, _ index: Int) throws -> [String: Any] {
    let parts = token.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 3 else { throw LabError("not a JWS compact token (\(parts.count) parts)") }
    var base64 = parts[index].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while base64.count % 4 != 0 { base64 += "=" }
    guard let data = Data(base64Encoded: base64),
      let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { throw LabError("JWT part \(index) is not base64url JSON") }
    return object
  }
}
