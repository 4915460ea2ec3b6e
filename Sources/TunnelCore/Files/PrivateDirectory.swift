import Foundation
import Glibc

/// mcp-tunnel's own directories (SPEC §6): the runtime directory that holds the control sockets and
/// refresh locks, and the audit directory. One policy for all of them:
///
/// - missing components are created with mode 0700;
/// - the directory itself must be a real directory (a symlink is refused: `O_NOFOLLOW`) owned by
///   the effective user, else the error names the owner and the fix;
/// - a looser mode on a directory that is ours is tightened to 0700 (`fchmod` on the descriptor
///   just checked, so nothing can swap the directory between the check and the change), the way
///   `gpg` and `ssh-keygen` treat their own directories. Refusing would only make the user type
///   the same `chmod`.
public enum PrivateDirectory {
  /// Applies the policy to `path` and returns a descriptor open on the directory (`O_DIRECTORY`,
  /// close-on-exec); the caller closes it. `flock` on it serializes work in the directory.
  public static func open(_ path: String) throws(CoreError) -> Int32 {
    guard path.hasPrefix("/") else {
      throw CoreError(
        .usage, "\(path) is not an absolute path", fix: "set XDG_RUNTIME_DIR/XDG_STATE_HOME to absolute paths")
    }
    var parent = ""
    for component in path.split(separator: "/") {
      parent += "/\(component)"
      if mkdir(parent, 0o700) != 0 && errno != EEXIST {
        let code = errno
        throw CoreError(
          .usage, "cannot create \(parent): \(errorText(code))",
          fix: "check XDG_RUNTIME_DIR / XDG_STATE_HOME and the permissions of \(parent)'s parent")
      }
    }
    let descriptor = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    guard descriptor >= 0 else {
      let code = errno
      throw CoreError(
        .usage,
        "\(path) cannot be opened as a directory: \(errorText(code))"
          + (code == ELOOP || code == ENOTDIR ? " (it is a symlink or not a directory)" : ""),
        fix: "remove it, or point XDG_RUNTIME_DIR / XDG_STATE_HOME at a private directory")
    }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else {
      let code = errno
      Glibc.close(descriptor)
      throw CoreError(.internalError, "cannot inspect \(path): \(errorText(code))")
    }
    guard info.st_uid == geteuid() else {
      Glibc.close(descriptor)
      throw CoreError(
        .usage, "\(path) belongs to uid \(info.st_uid), not to you (uid \(geteuid()))",
        fix: "remove it, or point XDG_RUNTIME_DIR / XDG_STATE_HOME at a directory of your own")
    }
    if info.st_mode & 0o077 != 0 || info.st_mode & 0o700 != 0o700 {
      guard fchmod(descriptor, 0o700) == 0 else {
        let code = errno
        Glibc.close(descriptor)
        throw CoreError(.usage, "cannot set mode 0700 on \(path): \(errorText(code))", fix: "chmod 700 \(path)")
      }
    }
    return descriptor
  }

  /// Applies the policy to `path` (see `open`).
  public static func ensure(_ path: String) throws(CoreError) {
    Glibc.close(try open(path))
  }

  static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
}
