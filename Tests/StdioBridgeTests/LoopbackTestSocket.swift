import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A TCP socket listening on 127.0.0.1 at a port the kernel picks (backlog 16), for the bridge
/// tests' small servers. The caller closes the descriptor.
func listeningLoopbackSocket() throws -> (descriptor: Int32, port: Int) {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { throw POSIXError(.EMFILE) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  address.sin_port = 0
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  let bound = withUnsafeMutablePointer(to: &address) { pointer in
    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
      bind(fd, socketAddress, length) == 0 && listen(fd, 16) == 0
        && getsockname(fd, socketAddress, &length) == 0
    }
  }
  guard bound else {
    close(fd)
    throw POSIXError(.EADDRNOTAVAIL)
  }
  return (fd, Int(UInt16(bigEndian: address.sin_port)))
}
