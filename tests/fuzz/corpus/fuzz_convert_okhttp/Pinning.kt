package com.example.net

import okhttp3.CertificatePinner
import okhttp3.OkHttpClient

// Shaped like square.github.io/okhttp CertificatePinner docs: a host constant,
// several pins per call, patterns, comments, and other add() calls around.
private const val HOSTNAME = "publicobject.com"

object Pinning {
    /* "add(" in a comment or a string is not a call: add("x.com", "sha256/nope") */
    private val interceptors = mutableListOf<String>()

    val certificatePinner = CertificatePinner.Builder()
        .add(HOSTNAME, "sha256/afwiKY3RxoMmLkuRW1l7QsPZTJPwDS2pdDROQjXw8ig=")
        .add(HOSTNAME, "sha256/klO23nT2ehFDXCfx3eHTDRESMz3asj1muO+4aIdjiuY=")
        .add(
            "*.example.com",
            "sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=",
            "sha256/fwza0LRMXouZHRC8Ei+4PyuldPRcf3UKgO/04cDM1oE=",
        )
        .add("**.api.example.com", "sha256/Ln0sA6lQeuJl7PW1NWiFpTOTogKdJBOUmXJloaJa78Y=")
        .add("static.example.com", "sha256/GKw+c0PwFokMUQ6T+TUmEWnZ4/VlQ2Qpgw+vCTT0+OQ=")
        .build()

    init {
        interceptors.add("logging")
    }

    val client = OkHttpClient.Builder()
        .certificatePinner(certificatePinner)
        .build()
}
