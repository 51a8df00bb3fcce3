//! The scenarios of spec/scenarios.md that start from an ALB Ingress (S4, S5).

use super::*;
use crate::model::ObjectRef;

#[test]
fn s4_ip_targets_with_a_readiness_path_give_exactly_the_documented_pod_target_group() {
    let result = only(
        r#"
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata:
          name: storefront
          namespace: shop
          annotations:
            kubernetes.io/ingress.class: alb
            alb.ingress.kubernetes.io/target-type: ip
            alb.ingress.kubernetes.io/healthcheck-path: /healthz/ready
            alb.ingress.kubernetes.io/healthcheck-interval-seconds: "10"
            alb.ingress.kubernetes.io/healthcheck-timeout-seconds: "5"
            alb.ingress.kubernetes.io/healthy-threshold-count: "2"
            alb.ingress.kubernetes.io/unhealthy-threshold-count: "2"
            alb.ingress.kubernetes.io/success-codes: "200"
        spec:
          rules:
          - http:
              paths:
              - path: /
                pathType: Prefix
                backend:
                  service:
                    name: storefront
                    port:
                      number: 80
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: storefront
          namespace: shop
        spec:
          type: ClusterIP
          selector:
            app: storefront
          ports:
          - name: http
            port: 80
            targetPort: 8080
        "#,
    );
    assert_eq!(
        probe(&result, 80),
        ProbeSpec {
            lb: LbKind::Alb,
            protocol: ProbeProtocol::Http,
            port: ProbePort::TrafficPort,
            path: Some("/healthz/ready".to_owned()),
            interval_s: 10,
            timeout_s: 5,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            matcher: http_matcher("200"),
            target: TargetKind::Pod,
            wire: WireDetails::for_lb(LbKind::Alb),
            deregistration_delay_s: Some(300),
        }
    );
    assert_eq!(
        result.rules[0].service,
        ObjectRef::new("Service", "shop", "storefront")
    );
    assert!(result.warnings.is_empty(), "{:#?}", result.warnings);
}

/// S5: the controller reads one set of annotations per (Ingress, Service) pair, and a Service's
/// annotations apply to every port, so two target groups of one gateway Service with different
/// protocol versions take two Ingresses (here in one IngressGroup, i.e. one ALB), each
/// forwarding to its own port of the gateway Service.
#[test]
fn s5_an_istio_gateway_gets_a_grpc_and_an_http_target_group_side_by_side() {
    let result = derive_with(
        r#"
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata:
          name: gateway-grpc
          namespace: istio-system
          annotations:
            alb.ingress.kubernetes.io/group.name: gateway
            alb.ingress.kubernetes.io/target-type: ip
            alb.ingress.kubernetes.io/backend-protocol: HTTPS
            alb.ingress.kubernetes.io/backend-protocol-version: GRPC
            alb.ingress.kubernetes.io/healthcheck-port: "25021"
            alb.ingress.kubernetes.io/healthcheck-path: /grpc.health.v1.Health/Check
            alb.ingress.kubernetes.io/success-codes: "0"
        spec:
          ingressClassName: alb
          rules:
          - http:
              paths:
              - path: /
                pathType: Prefix
                backend:
                  service:
                    name: istio-ingressgateway
                    port:
                      name: grpc
        ---
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata:
          name: gateway-http
          namespace: istio-system
          annotations:
            alb.ingress.kubernetes.io/group.name: gateway
            alb.ingress.kubernetes.io/target-type: ip
            alb.ingress.kubernetes.io/healthcheck-port: status-port
            alb.ingress.kubernetes.io/healthcheck-path: /healthz/ready
        spec:
          ingressClassName: alb
          rules:
          - http:
              paths:
              - path: /
                pathType: Prefix
                backend:
                  service:
                    name: istio-ingressgateway
                    port:
                      number: 80
        ---
        apiVersion: networking.k8s.io/v1
        kind: IngressClass
        metadata:
          name: alb
        spec:
          controller: ingress.k8s.aws/alb
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: istio-ingressgateway
          namespace: istio-system
        spec:
          type: ClusterIP
          ports:
          - name: status-port
            port: 15021
            targetPort: 15021
          - name: http2
            port: 80
            targetPort: 8080
          - name: grpc
            port: 443
            targetPort: 8443
        "#,
        &AwsSettings::default(),
    );
    assert_eq!(result.len(), 2, "{result:#?}");
    let (grpc, http) = (&result[0], &result[1]);
    assert_eq!(
        probe(grpc, 443),
        ProbeSpec {
            protocol: ProbeProtocol::Grpc,
            port: ProbePort::Number(25021),
            path: Some("/grpc.health.v1.Health/Check".to_owned()),
            matcher: grpc_matcher("0"),
            target: TargetKind::Pod,
            ..http2(alb_default())
        }
    );
    assert_eq!(
        probe(http, 80),
        ProbeSpec {
            port: ProbePort::Number(15021),
            path: Some("/healthz/ready".to_owned()),
            target: TargetKind::Pod,
            ..alb_default()
        }
    );
    for r in &result {
        assert_eq!(
            r.rules[0].service,
            ObjectRef::new("Service", "istio-system", "istio-ingressgateway")
        );
        assert!(r.warnings.is_empty(), "{:#?}", r.warnings);
    }
}
