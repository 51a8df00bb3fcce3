use super::*;

fn get(path: &str, if_none_match: Option<&str>) -> Response<Full<Bytes>> {
    let mut headers = HeaderMap::new();
    if let Some(tag) = if_none_match {
        headers.insert(header::IF_NONE_MATCH, tag.parse().unwrap());
    }
    handle(&Method::GET, &path.parse().unwrap(), &headers).expect("a UI path")
}

fn body(response: Response<Full<Bytes>>) -> Bytes {
    use http_body_util::BodyExt;
    let collected = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(response.into_body().collect());
    match collected {
        Ok(c) => c.to_bytes(),
        Err(e) => match e {},
    }
}

#[test]
fn ui_paths_serve_their_files_with_content_types_and_cache_headers() {
    let table = [
        ("/", "text/html; charset=utf-8"),
        ("/ui", "text/html; charset=utf-8"),
        ("/ui/", "text/html; charset=utf-8"),
        ("/ui/index.html", "text/html; charset=utf-8"),
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/lanes.js", "text/javascript; charset=utf-8"),
        ("/ui/style.css", "text/css; charset=utf-8"),
        ("/ui/favicon.svg", "image/svg+xml"),
    ];
    for (path, content_type) in table {
        let response = get(path, None);
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let h = response.headers();
        assert_eq!(h[header::CONTENT_TYPE], content_type, "{path}");
        assert_eq!(h[header::CACHE_CONTROL], CACHE_CONTROL, "{path}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert!(h[header::ETAG].to_str().unwrap().starts_with('"'), "{path}");
        assert!(!body(response).is_empty(), "{path}");
    }
}

#[test]
fn ui_answers_304_when_the_browser_holds_the_current_etag_and_200_for_an_old_one() {
    let etag = get("/ui/app.js", None).headers()[header::ETAG]
        .to_str()
        .unwrap()
        .to_owned();
    let table = [
        (etag.clone(), StatusCode::NOT_MODIFIED),
        (format!("W/{etag}"), StatusCode::NOT_MODIFIED),
        (format!("\"old\", {etag}"), StatusCode::NOT_MODIFIED),
        ("*".to_owned(), StatusCode::NOT_MODIFIED),
        ("\"0000000000000000-1\"".to_owned(), StatusCode::OK),
    ];
    for (tag, status) in table {
        let response = get("/ui/app.js", Some(&tag));
        assert_eq!(response.status(), status, "{tag}");
        assert_eq!(response.headers()[header::ETAG], etag.as_str(), "{tag}");
        if status == StatusCode::NOT_MODIFIED {
            assert!(body(response).is_empty(), "{tag}");
        }
    }
}

#[test]
fn unknown_ui_files_are_404_and_api_paths_are_left_to_the_api() {
    for path in ["/ui/nope.js", "/ui/../Cargo.toml", "/ui/js/app.js"] {
        let response = get(path, None);
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            String::from_utf8_lossy(&body(response)).contains("no UI file"),
            "{path}"
        );
    }
    for path in [
        "/api/v1/backends",
        "/healthz",
        "/metrics",
        "/uix",
        "/index.html",
    ] {
        let uri: Uri = path.parse().unwrap();
        assert!(
            handle(&Method::GET, &uri, &HeaderMap::new()).is_none(),
            "{path}"
        );
    }
}

#[test]
fn ui_refuses_writes_with_405_and_answers_head_without_a_body() {
    let uri: Uri = "/ui/app.js".parse().unwrap();
    let response = handle(&Method::POST, &uri, &HeaderMap::new()).unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[header::ALLOW], "GET, HEAD");
    let response = handle(&Method::HEAD, &uri, &HeaderMap::new()).unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let length: usize = response.headers()[header::CONTENT_LENGTH]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(length > 0);
    assert!(body(response).is_empty());
}

#[test]
fn every_embedded_file_has_a_distinct_etag_and_the_page_loads_only_embedded_files() {
    let mut tags: Vec<String> = ASSETS.iter().map(Asset::etag).collect();
    tags.sort();
    tags.dedup();
    assert_eq!(tags.len(), ASSETS.len());
    // Every `/ui/<file>` the page and scripts name is embedded: nothing comes from elsewhere.
    for a in ASSETS.iter().filter(|a| a.content_type != SVG_TYPE) {
        let text = String::from_utf8_lossy(a.body).replace(SVG_NAMESPACE, "");
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{}",
            a.name
        );
        for part in text.split("/ui/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                .collect();
            if name.contains('.') {
                assert!(
                    asset(&format!("/ui/{name}")).is_some(),
                    "{} names {name}",
                    a.name
                );
            }
        }
        for part in text.split("from \"./").skip(1) {
            let name: String = part.chars().take_while(|c| *c != '"').collect();
            assert!(
                asset(&format!("/ui/{name}")).is_some(),
                "{} imports {name}",
                a.name
            );
        }
    }
}

const SVG_TYPE: &str = "image/svg+xml";
/// A name, not an address: SVG elements are created in it.
const SVG_NAMESPACE: &str = "http://www.w3.org/2000/svg";
