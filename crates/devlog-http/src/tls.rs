//! TLS set-up: reqwest is built with `rustls-no-provider`, so the process must install a
//! rustls crypto provider before the first client is built. We use ring (as sqlx does), never
//! aws-lc-rs or OpenSSL.

use std::sync::Once;

static INSTALL: Once = Once::new();

/// Installs ring as the process-wide rustls provider. Idempotent and cheap; when the host
/// application already installed a provider, that one stays.
pub fn install_crypto_provider() {
    INSTALL.call_once(|| {
        // `Err` means a provider is already installed, which is all we need.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// True once a process-wide provider exists.
pub fn crypto_provider_installed() -> bool {
    rustls::crypto::CryptoProvider::get_default().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installing_twice_is_harmless() {
        install_crypto_provider();
        install_crypto_provider();
        assert!(crypto_provider_installed());
    }
}
