//! The generated files that span all specs: `mod.rs`, `api_key.rs` (the
//! `ApiKey` enum) and `bodies.rs` (`RequestBody` and `ResponseBody`).

use std::fmt::Write as _;

use super::emit::{HEADER, api_name};
use super::names::module_name;
use super::spec::{Kind, Spec};

/// One API: its key, name and the request and response specs.
struct Api<'s> {
    key: i16,
    name: &'s str,
    request: &'s Spec,
    response: &'s Spec,
}

fn apis(specs: &[Spec]) -> Result<Vec<Api<'_>>, String> {
    let mut apis = Vec::new();
    for request in specs.iter().filter(|s| s.kind == Kind::Request) {
        let name = api_name(&request.name);
        let response = specs
            .iter()
            .find(|s| s.kind == Kind::Response && s.name == format!("{name}Response"))
            .ok_or_else(|| format!("{} has no response spec", request.name))?;
        let key = request.api_key.unwrap_or_default();
        if response.api_key != request.api_key
            || response.valid_versions != request.valid_versions
            || response.flexible_versions != request.flexible_versions
        {
            return Err(format!(
                "{} and {} disagree on API key or versions",
                request.name, response.name
            ));
        }
        apis.push(Api {
            key,
            name,
            request,
            response,
        });
    }
    apis.sort_by_key(|api| api.key);
    if apis.windows(2).any(|w| w[0].key == w[1].key) {
        return Err("two requests share an API key".into());
    }
    let responses = specs.iter().filter(|s| s.kind == Kind::Response).count();
    if responses != apis.len() {
        return Err("a response spec has no request spec".into());
    }
    Ok(apis)
}

/// `mod.rs`: the module list, re-exports and the `for_each_message!` macro.
pub(crate) fn mod_rs(specs: &[Spec]) -> String {
    let mut out = String::from(HEADER);
    out.push_str(
        "\n//! Every message in Kafka's specs, one module each, with the message type\n\
         //! re-exported here; [`ApiKey`]; and [`RequestBody`] and [`ResponseBody`] for\n\
         //! code that learns the API key at run time.\n\n\
         // Lints allowed in generated code, and why:\n\
         // - `field_reassign_with_default`: decoders start from the spec defaults and\n\
         //   overwrite the fields the version carries, which reads like the spec.\n\
         // - `large_enum_variant`: `RequestBody` and `ResponseBody` hold whole\n\
         //   messages by value; boxing them would cost an allocation per message.\n\
         #![allow(clippy::field_reassign_with_default, clippy::large_enum_variant)]\n\n\
         mod api_key;\n\
         mod bodies;\n\n\
         pub use api_key::ApiKey;\n\
         pub use bodies::{RequestBody, ResponseBody};\n\n",
    );
    for spec in specs {
        let _ = writeln!(out, "pub mod {};", module_name(&spec.name));
    }
    out.push('\n');
    for spec in specs {
        let _ = writeln!(out, "pub use {}::{};", module_name(&spec.name), spec.name);
    }
    out.push_str(
        "\n/// Calls `$callback! { (module, Type), ... }` with every generated message.\n\
         /// The test suites use it to cover every message at every version.\n\
         #[doc(hidden)]\n\
         #[macro_export]\n\
         macro_rules! for_each_message {\n\
         ($callback:ident) => {\n\
         $callback! {\n",
    );
    for spec in specs {
        let _ = writeln!(
            out,
            "({}, $crate::messages::{}),",
            module_name(&spec.name),
            spec.name
        );
    }
    out.push_str("}\n};\n}\n");
    out
}

/// `api_key.rs`: the `ApiKey` enum.
pub(crate) fn api_key_rs(specs: &[Spec]) -> Result<String, String> {
    let apis = apis(specs)?;
    let mut out = String::from(HEADER);
    out.push_str(
        "\n//! [`ApiKey`]: the key a request and its response share.\n\n\
         use std::fmt;\n\n\
         use crate::error::UnknownApiKey;\n\
         use crate::protocol::{Message, VersionRange};\n\n\
         use super::{",
    );
    let names: Vec<String> = apis.iter().map(|api| api.request.name.clone()).collect();
    out.push_str(&names.join(", "));
    out.push_str("};\n\n");

    out.push_str(
        "/// A Kafka API, named after its request without the `Request` suffix.\n\
         ///\n\
         /// Newer specs add APIs, so matches need a wildcard arm.\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\n\
         #[non_exhaustive]\n\
         #[repr(i16)]\n\
         pub enum ApiKey {\n",
    );
    for api in &apis {
        let unstable = if api.request.latest_version_unstable {
            " The latest version is unstable."
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "/// `{}` and `{}`: versions {}, flexible versions {}.{unstable}\n{} = {},",
            api.request.name,
            api.response.name,
            api.request.valid_versions,
            api.request.flexible_versions,
            api.name,
            api.key
        );
    }
    out.push_str("}\n\n");

    out.push_str("impl ApiKey {\n/// Every API key, in key order.\n");
    let _ = writeln!(out, "pub const ALL: [ApiKey; {}] = [", apis.len());
    for api in &apis {
        let _ = writeln!(out, "Self::{},", api.name);
    }
    out.push_str("];\n\n");

    out.push_str(
        "/// The key on the wire.\n\
         pub const fn as_i16(self) -> i16 {\nself as i16\n}\n\n\
         /// The API's name, e.g. `Produce` or `ApiVersions`.\n\
         pub const fn name(self) -> &'static str {\nmatch self {\n",
    );
    for api in &apis {
        let _ = writeln!(out, "Self::{0} => \"{0}\",", api.name);
    }
    out.push_str(
        "}\n}\n\n\
         /// The versions the spec defines for the request and the response.\n\
         pub const fn versions(self) -> VersionRange {\nmatch self {\n",
    );
    for api in &apis {
        let _ = writeln!(out, "Self::{} => {}::VERSIONS,", api.name, api.request.name);
    }
    out.push_str(
        "}\n}\n\n\
         /// The versions that use compact encodings and tagged fields, and so the\n\
         /// flexible headers (request header v2, response header v1).\n\
         pub const fn flexible_versions(self) -> VersionRange {\nmatch self {\n",
    );
    for api in &apis {
        let _ = writeln!(
            out,
            "Self::{} => {}::FLEXIBLE_VERSIONS,",
            api.name, api.request.name
        );
    }
    let unstable: Vec<String> = apis
        .iter()
        .filter(|api| api.request.latest_version_unstable)
        .map(|api| format!("Self::{}", api.name))
        .collect();
    out.push_str(
        "}\n}\n\n\
         /// Whether the spec marks the latest version as unstable: brokers only\n\
         /// offer it when configured to, and clients should not pick it.\n\
         pub const fn latest_version_unstable(self) -> bool {\n",
    );
    if unstable.is_empty() {
        out.push_str("false\n");
    } else {
        let _ = writeln!(out, "matches!(self, {})", unstable.join(" | "));
    }
    out.push_str("}\n}\n\n");

    out.push_str(
        "impl TryFrom<i16> for ApiKey {\n\
         type Error = UnknownApiKey;\n\n\
         fn try_from(key: i16) -> Result<Self, UnknownApiKey> {\nmatch key {\n",
    );
    for api in &apis {
        let _ = writeln!(out, "{} => Ok(Self::{}),", api.key, api.name);
    }
    out.push_str(
        "_ => Err(UnknownApiKey(key)),\n}\n}\n}\n\n\
         impl From<ApiKey> for i16 {\n\
         fn from(key: ApiKey) -> i16 {\nkey.as_i16()\n}\n}\n\n\
         impl fmt::Display for ApiKey {\n\
         fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {\n\
         f.write_str(self.name())\n}\n}\n",
    );
    Ok(out)
}

/// `bodies.rs`: `RequestBody` and `ResponseBody`.
pub(crate) fn bodies_rs(specs: &[Spec]) -> Result<String, String> {
    let apis = apis(specs)?;
    let mut out = String::from(HEADER);
    out.push_str(
        "\n//! [`RequestBody`] and [`ResponseBody`]: any request or response, for code\n\
         //! that learns the API key at run time (a broker, a proxy, a logger).\n\n\
         use bytes::{Bytes, BytesMut};\n\n\
         use crate::codec::Reader;\n\
         use crate::error::{DecodeError, EncodeError};\n\
         use crate::protocol::{Message, read_message};\n\n\
         use super::*;\n\n",
    );
    for (enum_name, kind, pick) in [
        ("RequestBody", "request", true),
        ("ResponseBody", "response", false),
    ] {
        fn pick_spec<'s>(api: &Api<'s>, request: bool) -> &'s Spec {
            if request { api.request } else { api.response }
        }
        let _ = writeln!(
            out,
            "/// Any {kind} body, tagged with its API.\n\
             #[derive(Debug, Clone, PartialEq)]\n\
             #[non_exhaustive]\n\
             pub enum {enum_name} {{"
        );
        for api in &apis {
            let spec = pick_spec(api, pick);
            let _ = writeln!(out, "/// A `{}`.\n{}({}),", spec.name, api.name, spec.name);
        }
        out.push_str("}\n\n");

        let _ = writeln!(out, "impl {enum_name} {{");
        out.push_str(
            "/// The API this body belongs to.\npub fn api_key(&self) -> ApiKey {\nmatch self {\n",
        );
        for api in &apis {
            let _ = writeln!(out, "Self::{0}(_) => ApiKey::{0},", api.name);
        }
        out.push_str("}\n}\n\n/// The spec name of the message, e.g. `FetchRequest`.\npub fn name(&self) -> &'static str {\nmatch self {\n");
        for api in &apis {
            let _ = writeln!(
                out,
                "Self::{}(_) => {}::NAME,",
                api.name,
                pick_spec(api, pick).name
            );
        }
        let _ = write!(
            out,
            "}}\n}}\n\n\
             /// Decodes a complete {kind} body of `api_key` at `version`; see [`Message::decode`].\n\
             pub fn decode(api_key: ApiKey, version: i16, buf: &Bytes) -> Result<Self, DecodeError> {{\n\
             let mut reader = Reader::new(buf);\n\
             let body = Self::read(api_key, &mut reader, version)?;\n\
             reader.finish().map_err(|e| e.in_message(body.name(), version))?;\n\
             Ok(body)\n\
             }}\n\n\
             /// Reads a body of `api_key` at `version`, leaving what follows it.\n\
             pub(crate) fn read(api_key: ApiKey, reader: &mut Reader<'_>, version: i16) -> Result<Self, DecodeError> {{\n\
             match api_key {{\n"
        );
        for api in &apis {
            let _ = writeln!(
                out,
                "ApiKey::{0} => read_message(reader, version).map(Self::{0}),",
                api.name
            );
        }
        out.push_str(
            "}\n}\n\n\
             /// See [`Message::encoded_len`].\n\
             pub fn encoded_len(&self, version: i16) -> Result<usize, EncodeError> {\nmatch self {\n",
        );
        for api in &apis {
            let _ = writeln!(
                out,
                "Self::{}(body) => body.encoded_len(version),",
                api.name
            );
        }
        out.push_str(
            "}\n}\n\n\
             /// See [`Message::encode`].\n\
             pub fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {\nmatch self {\n",
        );
        for api in &apis {
            let _ = writeln!(
                out,
                "Self::{}(body) => body.encode(buf, version),",
                api.name
            );
        }
        out.push_str("}\n}\n}\n\n");
        for api in &apis {
            let spec = pick_spec(api, pick);
            let _ = writeln!(
                out,
                "impl From<{0}> for {enum_name} {{\nfn from(body: {0}) -> Self {{\nSelf::{1}(body)\n}}\n}}\n",
                spec.name, api.name
            );
        }
    }
    Ok(out)
}
