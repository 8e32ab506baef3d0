CertificatePinner p = new CertificatePinner.Builder()
  .add("a.com", "sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=")
  .add("*.a.com", "sha1/x")
  .build();
