//! The admin listener's routes: one table of method, path, who may call and what runs. Dispatch,
//! the 405 answer with its `Allow` list, and the OpenAPI document's paths are all read from it,
//! so an endpoint cannot be served and undocumented, or documented and missing.

use http::Method;
use utoipa::openapi::path::{HttpMethod, Operation, Paths};

use super::openapi as doc;
use super::{breaches, links, requests, sweeps, transfers};
use pdgate_http::auth::Role;

/// One endpoint. A `{…}` segment of `path` matches any one segment (an id).
pub(crate) struct Route {
    pub method: Method,
    pub path: &'static str,
    pub endpoint: Endpoint,
    /// Its OpenAPI operation (from its `#[utoipa::path]`, which states the same path and method).
    pub doc: Doc,
}

/// What runs, and who may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// Without a bearer token (`/metrics` checks its own, when one is configured).
    Public(Public),
    /// For a bearer token carrying one of the roles.
    Api(&'static [Role], Api),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Public {
    Healthz,
    Readyz,
    Metrics,
    OpenApi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    Detokenize,
    AuditExport,
    AuditKey,
    Register,
    Discovery,
    Consents,
    Requests(requests::Op),
    Breaches(breaches::Op),
    Transfers(transfers::Op),
    Links(links::Op),
    Sweeps(sweeps::Op),
}

/// A route's OpenAPI entry: the functions `#[utoipa::path]` generated for it.
/// Its own path and methods are read only by the test that holds them equal to the route's.
pub(crate) struct Doc {
    operation: fn() -> Operation,
    #[cfg(test)]
    path: fn() -> String,
    #[cfg(test)]
    methods: fn() -> Vec<HttpMethod>,
}

const fn doc<P: utoipa::Path>() -> Doc {
    Doc {
        operation: P::operation,
        #[cfg(test)]
        path: P::path,
        #[cfg(test)]
        methods: P::methods,
    }
}

const SERVICE: &[Role] = &[Role::Service];
const AUDIT: &[Role] = &[Role::Auditor, Role::Dpo, Role::Admin];
const READ: &[Role] = &[Role::Dpo, Role::Admin, Role::Auditor];
const DPO: &[Role] = &[Role::Dpo, Role::Admin];
const LINKS: &[Role] = &[Role::Service, Role::Dpo, Role::Admin];

macro_rules! route {
    ($method:ident $path:literal => $handler:expr, $doc:ty) => {
        Route {
            method: Method::$method,
            path: $path,
            endpoint: $handler,
            doc: doc::<$doc>(),
        }
    };
}

/// Every admin endpoint (the console's static pages aside: `GET /` and `/console/…`).
pub(crate) static ROUTES: &[Route] = &[
    route!(GET "/healthz" => Endpoint::Public(Public::Healthz), doc::__path_healthz),
    route!(GET "/readyz" => Endpoint::Public(Public::Readyz), doc::__path_readyz),
    route!(GET "/metrics" => Endpoint::Public(Public::Metrics), doc::__path_metrics),
    route!(GET "/admin/openapi.json" => Endpoint::Public(Public::OpenApi), doc::__path_openapi_json),
    route!(POST "/v1/detokenize" => Endpoint::Api(SERVICE, Api::Detokenize), doc::__path_detokenize),
    route!(GET "/admin/v1/audit" => Endpoint::Api(AUDIT, Api::AuditExport), doc::__path_audit_export),
    route!(GET "/admin/v1/audit/key" => Endpoint::Api(AUDIT, Api::AuditKey), doc::__path_audit_key),
    route!(GET "/admin/v1/register" => Endpoint::Api(READ, Api::Register), doc::__path_register),
    route!(GET "/admin/v1/discovery" => Endpoint::Api(READ, Api::Discovery), doc::__path_discovery),
    route!(GET "/admin/v1/consents" => Endpoint::Api(READ, Api::Consents), doc::__path_consents),
    route!(POST "/admin/v1/requests" => Endpoint::Api(DPO, Api::Requests(requests::Op::Create)), doc::__path_requests_create),
    route!(GET "/admin/v1/requests" => Endpoint::Api(DPO, Api::Requests(requests::Op::List)), doc::__path_requests_list),
    route!(GET "/admin/v1/requests/{id}" => Endpoint::Api(DPO, Api::Requests(requests::Op::Get)), doc::__path_request_get),
    route!(POST "/admin/v1/requests/{id}/extend" => Endpoint::Api(DPO, Api::Requests(requests::Op::Extend)), doc::__path_request_extend),
    route!(POST "/admin/v1/requests/{id}/fulfil" => Endpoint::Api(DPO, Api::Requests(requests::Op::Fulfil)), doc::__path_request_fulfil),
    route!(POST "/admin/v1/requests/{id}/lift" => Endpoint::Api(DPO, Api::Requests(requests::Op::Lift)), doc::__path_request_lift),
    route!(GET "/admin/v1/requests/{id}/report" => Endpoint::Api(DPO, Api::Requests(requests::Op::Report)), doc::__path_request_report),
    route!(GET "/admin/v1/requests/{id}/extension-notice" => Endpoint::Api(DPO, Api::Requests(requests::Op::Notice)), doc::__path_request_notice),
    route!(POST "/admin/v1/requests/{id}/extension-notice" => Endpoint::Api(DPO, Api::Requests(requests::Op::NoticeSent)), doc::__path_request_notice_sent),
    route!(POST "/admin/v1/breaches" => Endpoint::Api(DPO, Api::Breaches(breaches::Op::Create)), doc::__path_breaches_create),
    route!(GET "/admin/v1/breaches" => Endpoint::Api(DPO, Api::Breaches(breaches::Op::List)), doc::__path_breaches_list),
    route!(GET "/admin/v1/breaches/{id}" => Endpoint::Api(DPO, Api::Breaches(breaches::Op::Get)), doc::__path_breach_get),
    route!(POST "/admin/v1/breaches/{id}/state" => Endpoint::Api(DPO, Api::Breaches(breaches::Op::State)), doc::__path_breach_state),
    route!(POST "/admin/v1/breaches/{id}/sent" => Endpoint::Api(DPO, Api::Breaches(breaches::Op::Sent)), doc::__path_breach_sent),
    route!(GET "/admin/v1/breaches/{id}/notice" => Endpoint::Api(DPO, Api::Breaches(breaches::Op::Notice)), doc::__path_breach_notice),
    route!(POST "/admin/v1/transfers" => Endpoint::Api(DPO, Api::Transfers(transfers::Op::Create)), doc::__path_transfers_create),
    route!(GET "/admin/v1/transfers" => Endpoint::Api(DPO, Api::Transfers(transfers::Op::List)), doc::__path_transfers_list),
    route!(POST "/admin/v1/transfers/{id}/received" => Endpoint::Api(DPO, Api::Transfers(transfers::Op::Received)), doc::__path_transfer_received),
    route!(POST "/admin/v1/transfers/{id}/withdraw" => Endpoint::Api(DPO, Api::Transfers(transfers::Op::Withdraw)), doc::__path_transfer_withdraw),
    route!(POST "/admin/v1/subjects/links" => Endpoint::Api(LINKS, Api::Links(links::Op::Create)), doc::__path_links_create),
    route!(GET "/admin/v1/subjects/links/{id}" => Endpoint::Api(LINKS, Api::Links(links::Op::Get)), doc::__path_link_get),
    route!(DELETE "/admin/v1/subjects/links/{id}" => Endpoint::Api(LINKS, Api::Links(links::Op::Revoke)), doc::__path_link_revoke),
    route!(GET "/admin/v1/sweeps" => Endpoint::Api(READ, Api::Sweeps(sweeps::Op::List)), doc::__path_sweeps_list),
    route!(GET "/admin/v1/sweeps/{id}/acts" => Endpoint::Api(READ, Api::Sweeps(sweeps::Op::Acts)), doc::__path_sweep_acts),
    route!(GET "/admin/v1/withdrawals" => Endpoint::Api(READ, Api::Sweeps(sweeps::Op::Withdrawals)), doc::__path_withdrawals_list),
];

/// What the table says of a request's method and path.
#[derive(Debug)]
pub(crate) enum Matched<'p> {
    /// The route, and the path's `{id}` segment (empty when it has none).
    Route(&'static Route, &'p str),
    /// The path exists, not with this method: the methods it takes.
    WrongMethod(Vec<Method>),
    NotFound,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// The route for `method` and `path` (empty segments ignored: `/admin/v1/requests/` is the list).
pub(crate) fn find<'p>(method: &Method, path: &'p str) -> Matched<'p> {
    let mut allow = Vec::new();
    for route in ROUTES {
        let Some(id) = matches(route.path, path) else {
            continue;
        };
        if route.method == *method {
            return Matched::Route(route, id);
        }
        allow.push(route.method.clone());
    }
    if allow.is_empty() {
        Matched::NotFound
    } else {
        Matched::WrongMethod(allow)
    }
}

/// Whether `path` fits `pattern`, with the segment that fills its `{…}`, if any.
fn matches<'p>(pattern: &str, path: &'p str) -> Option<&'p str> {
    let mut want = pattern.split('/').filter(|s| !s.is_empty());
    let mut got = path.split('/').filter(|s| !s.is_empty());
    let mut id = "";
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(id),
            (Some(w), Some(g)) if w.starts_with('{') => id = g,
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// The OpenAPI paths, in the table's order.
pub(crate) fn paths() -> Paths {
    let mut paths = Paths::new();
    for route in ROUTES {
        paths.add_path_operation(
            route.path,
            vec![http_method(&route.method)],
            (route.doc.operation)(),
        );
    }
    paths
}

fn http_method(m: &Method) -> HttpMethod {
    match *m {
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::DELETE => HttpMethod::Delete,
        Method::PATCH => HttpMethod::Patch,
        Method::HEAD => HttpMethod::Head,
        Method::OPTIONS => HttpMethod::Options,
        Method::TRACE => HttpMethod::Trace,
        _ => HttpMethod::Get,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_routes_documentation_states_its_path_and_method() {
        for route in ROUTES {
            assert_eq!((route.doc.path)(), route.path, "{route:?}");
            assert!(
                (route.doc.methods)() == vec![http_method(&route.method)],
                "{route:?}"
            );
        }
    }

    #[test]
    fn no_two_routes_share_a_method_and_path() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                let same_shape = matches(a.path, &b.path.replace("{id}", "x")).is_some();
                assert!(!(a.method == b.method && same_shape), "{a:?} and {b:?}");
            }
        }
    }

    #[test]
    fn every_route_is_found_by_its_own_path_with_an_id() {
        for route in ROUTES {
            let path = route.path.replace("{id}", "req_123");
            match find(&route.method, &path) {
                Matched::Route(r, id) => {
                    assert!(std::ptr::eq(r, route), "{path} found {r:?}");
                    let want = if route.path.contains("{id}") {
                        "req_123"
                    } else {
                        ""
                    };
                    assert_eq!(id, want);
                }
                other => panic!("{path}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_known_path_with_another_method_lists_the_methods_it_takes() {
        let allow = |method: Method, path: &str| match find(&method, path) {
            Matched::WrongMethod(allow) => allow,
            other => panic!("{method} {path}: {other:?}"),
        };
        assert_eq!(
            allow(Method::PUT, "/admin/v1/requests"),
            vec![Method::POST, Method::GET]
        );
        assert_eq!(
            allow(Method::POST, "/admin/v1/subjects/links/lnk_1"),
            vec![Method::GET, Method::DELETE]
        );
        assert_eq!(allow(Method::POST, "/healthz"), vec![Method::GET]);
        assert_eq!(allow(Method::GET, "/v1/detokenize"), vec![Method::POST]);
    }

    #[test]
    fn unknown_paths_and_extra_segments_are_not_found() {
        for path in [
            "/admin/v1/nothing",
            "/admin/v1/requests/r/unknown",
            "/admin/v1/requests/r/fulfil/more",
            "/admin/v1",
            "/healthz/x",
        ] {
            assert!(
                matches!(find(&Method::GET, path), Matched::NotFound),
                "{path}"
            );
            assert!(
                matches!(find(&Method::POST, path), Matched::NotFound),
                "{path}"
            );
        }
        assert!(matches!(
            find(&Method::GET, "/admin/v1/requests/"),
            Matched::Route(r, "") if r.path == "/admin/v1/requests"
        ));
    }

    #[test]
    fn the_documents_paths_are_the_tables() {
        let doc: serde_json::Value = serde_json::from_str(super::super::openapi::json()).unwrap();
        let mut documented: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| matches!(k.as_str(), "get" | "post" | "put" | "delete" | "patch"))
                    .map(move |m| (m.to_uppercase(), path.clone()))
            })
            .collect();
        let mut table: Vec<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_owned()))
            .collect();
        documented.sort();
        table.sort();
        assert_eq!(documented, table);
    }
}
