//! SAML 2.0: a Response (HTTP-POST binding, base64 or raw XML) or a
//! standalone signed Assertion, verified against one provider.
//!
//! * `names`: the namespaces and the whitespace rule every module shares;
//! * [`xml`]: the strict reader and the arena tree everything else walks;
//! * `token`: recognising a Response or an Assertion and its claimed Issuer;
//! * [`c14n`]: exclusive and inclusive canonicalization;
//! * [`dsig`]: one XML-DSig Signature over its parent element;
//! * [`x509`] (in [`crate::keys`]): trusted keys from the provider's PEM certificates;
//! * [`response`]: the Web SSO profile checks and the wrapping defence;
//! * [`attributes`]: mapping the signed Assertion to an [`Identity`].
//!
//! Decisions (strict where the profile allows a choice):
//! * exactly one Assertion-like element in the whole document, Advice,
//!   Extensions, ds:Object and EncryptedAssertion included (contract);
//!   EncryptedAssertion / EncryptedID are `unsupported`;
//! * every ds:Signature must be a direct child of the root Response or of the
//!   Assertion, at most one per element, and must verify; a Signature anywhere
//!   else (Status, Extensions, KeyInfo, Advice...) is `bad_signature`;
//! * an Assertion without AudienceRestriction is refused (`audience_mismatch`),
//!   as is one without a bearer SubjectConfirmation whose Recipient is in
//!   `acs_urls` (`recipient_mismatch`), and one without AuthnStatement
//!   (`malformed`, profiles 4.1.4.2);
//! * Conditions may hold only AudienceRestriction, OneTimeUse (the replay
//!   cache enforces it) and ProxyRestriction; any other condition makes the
//!   Assertion Indeterminate (core 2.5.1) and is `unsupported`;
//! * a signed Response must carry a Destination (`recipient_mismatch`
//!   otherwise; bindings 3.5.5.2, profiles 4.1.4.5); an unsigned Response
//!   (only the Assertion signed) may omit it, since its Destination would be
//!   the sender's to write anyway; when present it must be in `acs_urls`;
//! * a request id is satisfied only by a signed InResponseTo: the bearer
//!   SubjectConfirmationData's in the Assertion, or the Response's when the
//!   Response signature verified; an unsigned Response claiming the request
//!   does not vouch for an Assertion that names none (`request_mismatch`).
//!   The Response InResponseTo, when a request id is given, must equal it
//!   too, signed or not;
//! * a standalone Assertion must carry its own signature, whatever
//!   `saml_signed` says; Status / Destination / Response InResponseTo do not
//!   apply to it, and a given request id must equal its SubjectConfirmationData
//!   InResponseTo;
//! * Issuer and Audience text are compared after trimming XML whitespace;
//!   NameID and attribute values are kept exactly as sent;
//! * no NotOnOrAfter anywhere: the Assertion is valid for
//!   [`response::DEFAULT_LIFETIME_SECS`] after its IssueInstant;
//! * RSA keys of 1024 bits and more are accepted ([`x509::MIN_RSA_BITS`]).
//!
//! [`Identity`]: crate::identity::Identity

pub mod attributes;
pub mod c14n;
pub mod dsig;
pub mod metadata;
mod names;
pub mod response;
pub mod time;
mod token;
pub mod xml;

// This module only declares and re-exports: the children share what they
// need through the leaves `names` and `token`, never through `super::`.
pub use names::{ASSERTION_NS, PROTOCOL_NS};
pub use response::verify;
pub use token::{
    decode_base64_token, looks_like_xml, parse, parse_bytes, parse_vec, Root, SamlToken,
};
// The certificates moved to `keys::x509`; the old path stays.
pub use crate::keys::x509::{self, parse_pem_keys, TrustedKey};
