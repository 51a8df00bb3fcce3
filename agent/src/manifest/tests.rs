use super::*;

fn ok(text: &str) -> Loaded {
    parse_str("test.yaml", text).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> Vec<String> {
    match parse_str("test.yaml", text) {
        Ok(_) => panic!("expected errors"),
        Err(LoadErrors(errs)) => errs.iter().map(ToString::to_string).collect(),
    }
}

const SERVICE: &str = "
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: LoadBalancer
  ports: [{port: 80, nodePort: 30080}]
";

#[test]
fn multi_document_yaml_keeps_services_ingresses_and_classes_and_skips_other_kinds() {
    let text = format!(
        "{SERVICE}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\n---\n\
         apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: web}}\nspec: {{}}\n---\n\
         apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {{name: alb}}\n\
         spec: {{controller: ingress.k8s.aws/alb}}\n---\n"
    );
    let loaded = ok(&text);
    assert_eq!(loaded.objects.services.len(), 1);
    assert_eq!(loaded.objects.ingresses.len(), 1);
    assert_eq!(loaded.objects.ingress_classes.len(), 1);
    assert_eq!(loaded.skipped, 1);
    let svc = &loaded.objects.services[0];
    assert_eq!(svc.metadata.namespace.as_deref(), Some("shop"));
}

#[test]
fn kubectl_lists_are_unpacked_including_nested_lists() {
    let text = "
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
  spec: {ports: [{port: 80}]}
- apiVersion: v1
  kind: ServiceList
  items:
  - apiVersion: v1
    kind: Service
    metadata: {name: b}
    spec: {ports: [{port: 81}]}
";
    let names: Vec<_> = ok(text)
        .objects
        .services
        .iter()
        .map(|s| s.metadata.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn json_input_with_tabs_is_read_as_json() {
    let text = "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"Service\",\n\t\"metadata\": {\"name\": \"j\"},\n\t\"spec\": {\"ports\": [{\"port\": 443}]}\n}";
    assert_eq!(ok(text).objects.services.len(), 1);
}

#[test]
fn a_wrong_type_names_the_source_object_and_field_path() {
    let errs = errors(&SERVICE.replace("port: 80", "port: \"80\""));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(
            "test.yaml: Service/shop/web: spec.ports[0].port: invalid type: string \"80\""
        ),
        "{}",
        errs[0]
    );
}

#[test]
fn a_non_string_annotation_is_an_error_naming_the_annotation() {
    let text = SERVICE.replace(
        "metadata: {name: web, namespace: shop}",
        "metadata: {name: web, namespace: shop, annotations: {service.beta.kubernetes.io/azure-load-balancer-internal: true}}",
    );
    let errs = errors(&text);
    assert!(
        errs[0].contains(
            "metadata.annotations.service.beta.kubernetes.io/azure-load-balancer-internal"
        ) && errs[0].contains("expected a string"),
        "{}",
        errs[0]
    );
}

#[test]
fn a_load_balancer_service_without_ports_is_an_error() {
    let errs =
        errors("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {type: LoadBalancer}\n");
    assert_eq!(
        errs,
        [
            "test.yaml: Service/default/x: spec.ports: a Service of type LoadBalancer needs at least one port"
        ]
    );
}

#[test]
fn out_of_range_ports_are_errors() {
    let errs = errors(&SERVICE.replace("nodePort: 30080", "nodePort: 70000"));
    assert!(
        errs[0].contains("spec.ports[0].nodePort: 70000 is not a valid port number"),
        "{errs:?}"
    );
}

#[test]
fn invalid_yaml_names_the_document() {
    let errs = errors(&format!("{SERVICE}---\nkind: [unclosed\n"));
    assert!(
        errs[0].starts_with("test.yaml: document 2: invalid YAML"),
        "{errs:?}"
    );
}

#[test]
fn scalars_and_objects_without_kind_are_errors_not_panics() {
    assert!(errors("just a string\n")[0].contains("expected a Kubernetes object"));
    assert!(errors("apiVersion: v1\nmetadata: {}\n")[0].contains("object has no kind"));
    assert!(errors("kind: List\napiVersion: v1\nitems: 3\n")[0].contains("items: expected a list"));
}

#[test]
fn all_errors_of_a_run_are_reported_together() {
    let bad = SERVICE.replace("port: 80", "port: true");
    let errs = errors(&format!("{bad}---\n{bad}"));
    assert_eq!(errs.len(), 2);
}

#[test]
fn empty_documents_and_empty_input_are_fine() {
    assert_eq!(ok("").objects.services.len(), 0);
    assert_eq!(ok("---\n---\n").objects.services.len(), 0);
}

#[test]
fn extensions_v1beta1_ingress_is_an_error_with_the_fix() {
    let errs = errors("apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: old}\n");
    assert!(
        errs[0].contains("Ingress/default/old: apiVersion")
            && errs[0].contains("networking.k8s.io/v1")
    );
}

#[test]
fn a_missing_file_is_a_read_error_naming_the_path() {
    let Err(LoadErrors(errs)) = load_paths(&["/nonexistent/x.yaml"]) else {
        panic!("expected an error")
    };
    assert!(
        errs[0]
            .to_string()
            .starts_with("/nonexistent/x.yaml: cannot read")
    );
}
