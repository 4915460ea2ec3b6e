/// Certificates written by OpenSSH 9.2's `ssh-keygen -s` (CA key `SHA256:qP6vNTTasMQ5UZdXszEqHRe6Sax95FrxQOiT7r/McSg`).
public enum CertificateFixtures {
  /// `ssh-keygen -s ca -I fixture-ec -z 42 -n alice,deploy -V 20250101000000Z:20250101010000Z
  ///  -O force-command=/bin/true -O source-address=10.0.0.0/8 ec.pub`
  public static let ecdsa = [
    "ecdsa-sha2-nistp256-cert-v01@openssh.com AAAAKGVjZHNhLXNoYTItbmlzdHAyNTYtY2VydC12MDFAb3BlbnNzaC5jb20",
    "AAAAgL/tJbv4Nz8mJ+0jCmVHmin17VKuFEHXLKdGTl3bJgfwAAAAIbmlzdHAyNTYAAABBBHLWc0n9y5A03tmE3pMunun5lPbd6C+",
    "KUSfkqHD1+JPeJwGRk7QRvDSocZAMzF5FInKqBgNGVDnMcpZmWTnhhh0AAAAAAAAAKgAAAAEAAAAKZml4dHVyZS1lYwAAABMAAAA",
    "FYWxpY2UAAAAGZGVwbG95AAAAAGd0hYAAAAAAZ3STkAAAAEYAAAANZm9yY2UtY29tbWFuZAAAAA0AAAAJL2Jpbi90cnVlAAAADnN",
    "vdXJjZS1hZGRyZXNzAAAADgAAAAoxMC4wLjAuMC84AAAAggAAABVwZXJtaXQtWDExLWZvcndhcmRpbmcAAAAAAAAAF3Blcm1pdC1",
    "hZ2VudC1mb3J3YXJkaW5nAAAAAAAAABZwZXJtaXQtcG9ydC1mb3J3YXJkaW5nAAAAAAAAAApwZXJtaXQtcHR5AAAAAAAAAA5wZXJ",
    "taXQtdXNlci1yYwAAAAAAAAAAAAAAMwAAAAtzc2gtZWQyNTUxOQAAACDl6QQb5eA2GRnJ1ZDTwz48QyI4bzTy0mosepsUenk40wA",
    "AAFMAAAALc3NoLWVkMjU1MTkAAABAyK01bHkXxVsBOjEVt2W2N2CqTeciQ/Jx0RFIPkU0MbLQINW5TgAZs2MJNwNHzUa7RGn2HlY",
    "71dZyNlVmu440Cg== alice@laptop",
  ].joined()
  /// `ec.pub`: the key `ecdsa` certifies (`SHA256:5m/qqTS/9rTCsweTsPj/vTrD6LNoL+dUFqx0fYhds6k`).
  public static let ecdsaPublicKey = [
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHLWc0n9y5A03tmE3pMunun5lPbd",
    "6C+KUSfkqHD1+JPeJwGRk7QRvDSocZAMzF5FInKqBgNGVDnMcpZmWTnhhh0= alice@laptop",
  ].joined()
  /// `ssh-keygen -s ca -I fixture-ed -n alice ed.pub` (valid forever).
  public static let ed25519 = [
    "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIDjRN+ZMyFuCHC9",
    "5nAyqddzbLA1cFBmwjPUJiPATaz2nAAAAIJ490f5AH6297AvmEcW4l+lWnNrNJjjHrcis0l6i0k/bAAAAAAAAAAAAAAABAAAACmZ",
    "peHR1cmUtZWQAAAAJAAAABWFsaWNlAAAAAAAAAAD//////////wAAAAAAAACCAAAAFXBlcm1pdC1YMTEtZm9yd2FyZGluZwAAAAA",
    "AAAAXcGVybWl0LWFnZW50LWZvcndhcmRpbmcAAAAAAAAAFnBlcm1pdC1wb3J0LWZvcndhcmRpbmcAAAAAAAAACnBlcm1pdC1wdHk",
    "AAAAAAAAADnBlcm1pdC11c2VyLXJjAAAAAAAAAAAAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIOXpBBvl4DYZGcnVkNPDPjxDIjhvNPL",
    "Saix6mxR6eTjTAAAAUwAAAAtzc2gtZWQyNTUxOQAAAEAqC0srDRj/3rNhjfLUCu+NMDTJ5qaWmnV1wIIlTlqYltdwPlS1Rjoy3Rf",
    "edxo2ayvpddnM0TwD9kzTL5Hv9EAO ed",
  ].joined()
  /// `ssh-keygen -s ca -I fixture-rsa -n alice -V 20250101000000Z:20250102000000Z rsa.pub` (RSA 1024).
  public static let rsa = [
    "ssh-rsa-cert-v01@openssh.com AAAAHHNzaC1yc2EtY2VydC12MDFAb3BlbnNzaC5jb20AAAAgk4UCu9KIv2MwpoX4g1OCjxD",
    "Y6X2D5k0XZXTFY6I5j6oAAAADAQABAAAAgQCuEn3j5tAOZ35U2pTA3KfKXQd4XbgeE93Vp91AL6/d1uEDCRF4nobFtMxYl14rSQb",
    "UWAeDSFPap7pZUVnZ4p3zAaa5atTm0pXhIPLi+CSI8vg8jZu4tsDiIsUMCtBdHh/0OxbdzE1mvo9XaMpqv2AUo2/oQ2bgYZ7kYMC",
    "mFc/vSwAAAAAAAAAAAAAAAQAAAAtmaXh0dXJlLXJzYQAAAAkAAAAFYWxpY2UAAAAAZ3SFgAAAAABnddcAAAAAAAAAAIIAAAAVcGV",
    "ybWl0LVgxMS1mb3J3YXJkaW5nAAAAAAAAABdwZXJtaXQtYWdlbnQtZm9yd2FyZGluZwAAAAAAAAAWcGVybWl0LXBvcnQtZm9yd2F",
    "yZGluZwAAAAAAAAAKcGVybWl0LXB0eQAAAAAAAAAOcGVybWl0LXVzZXItcmMAAAAAAAAAAAAAADMAAAALc3NoLWVkMjU1MTkAAAA",
    "g5ekEG+XgNhkZydWQ08M+PEMiOG808tJqLHqbFHp5ONMAAABTAAAAC3NzaC1lZDI1NTE5AAAAQFA5ducJj1/dYG+6vecDTz+/ozD",
    "8fEYG/QqIcERWT6ui0t1mkNuyYj3ve3Abt24wk6RxSUl+LR1sOIjKPQoW3QI= rsa",
  ].joined()
  /// `ssh-keygen -s ca -I fixture-host -h -n host.example.com -V always:forever hostk.pub`
  public static let host = [
    "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAINdH0gxBWWJ1VYu",
    "7UB/c7aJZaleUYWo3XwFttGBLd6bYAAAAIJ490f5AH6297AvmEcW4l+lWnNrNJjjHrcis0l6i0k/bAAAAAAAAAAAAAAACAAAADGZ",
    "peHR1cmUtaG9zdAAAABQAAAAQaG9zdC5leGFtcGxlLmNvbQAAAAAAAAAA//////////8AAAAAAAAAAAAAAAAAAAAzAAAAC3NzaC1",
    "lZDI1NTE5AAAAIOXpBBvl4DYZGcnVkNPDPjxDIjhvNPLSaix6mxR6eTjTAAAAUwAAAAtzc2gtZWQyNTUxOQAAAED8+h5A/tyJmNF",
    "daqXBKuiWZ4ISlIphB9i7RnVxieYemq8nIm9ivoRdl7fJR+wt1wIZkdN8GgMNZOGt8M6y0agE ed",
  ].joined()
}
