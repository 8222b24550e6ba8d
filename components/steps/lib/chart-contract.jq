# lib/chart-contract.jq: the chart contract (docs/chart-contract.md) judged on a rendered chart.
# lib/chart-contract.sh runs it; stepSource embeds it as CHART_CONTRACT_JQ into the steps that list it.
#
# Input:  every object `helm template` rendered with the pipeline's overrides, as one JSON array.
# Args:   $namespace      the preview namespace the chart is installed into
#         $host           the preview host the chart was rendered with (ingress.host)
#         $tag            the image tag it was rendered with (image.tag)
#         $pull_policy    the image pull policy it was rendered with (image.pullPolicy); "": not checked
#         $ingress_class  the IngressClass it was rendered with (ingress.className); "": not checked
#         $limit_range    the preview's LimitRange object (JSON; its type Container entries are used)
# Output: one line per failure, `<where>: <what is wrong>. Fix: <what to change>`; nothing when the
#         chart meets the contract.
#
# The Pod Security rules are those of test/chart/restricted.ts, problem for problem and in the same
# order (test/chart/contract-rules.test.ts holds both to one table); the Ingress, Service and finalizer
# rules are those of the preview-charts admission policy (components/admission.ts).

# components/admission.ts SYSTEM_FINALIZERS (a test keeps the two equal).
def system_finalizers: ["kubernetes.io/pvc-protection", "foregroundDeletion", "orphan"];
# What the preview's deployer may create, as <group>/<Kind>: components/rbac.ts DEPLOYER_RULES (a
# test keeps the two equal). helm installs the chart as that deployer, so anything else is forbidden.
def deployer_kinds: ["/ConfigMap", "/Secret", "/Service", "/PersistentVolumeClaim", "/ServiceAccount", "/Pod", "apps/Deployment", "apps/StatefulSet", "apps/DaemonSet", "batch/Job", "batch/CronJob", "networking.k8s.io/Ingress", "autoscaling/HorizontalPodAutoscaler", "policy/PodDisruptionBudget", "rbac.authorization.k8s.io/Role", "rbac.authorization.k8s.io/RoleBinding"];
# The volume types Pod Security "restricted" allows.
def allowed_volumes: ["configMap", "emptyDir", "secret", "projected", "downwardAPI", "persistentVolumeClaim", "ephemeral", "csi"];

# The first of two values that is not null (jq's `//` would also skip false).
def either($a; $b): if $a == null then $b else $a end;
def where: "\(.kind // "?")/\(.metadata.name // "?")";
def fail($where; $problem; $fix): "\($where): \($problem). Fix: \($fix)";

# The pod spec an object makes pods from, when it makes any.
def pod_spec:
  if .kind == "Pod" then .spec
  elif (.kind == "Deployment" or .kind == "StatefulSet" or .kind == "ReplicaSet" or .kind == "DaemonSet" or .kind == "Job")
  then .spec.template.spec?
  elif .kind == "CronJob" then .spec.jobTemplate.spec.template.spec?
  else null end
  | select(type == "object");

def containers_of: [(.initContainers // [])[], (.containers // [])[]] | map(select(type == "object"));

# A Kubernetes quantity as a number of base units; empty when it is none.
def quantity:
  tostring
  | capture("^(?<n>[0-9]+(\\.[0-9]*)?|\\.[0-9]+)(?<s>m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
  | (.n | tonumber) * {"": 1, "m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
      "Ki": 1024, "Mi": 1048576, "Gi": 1073741824, "Ti": 1099511627776, "Pi": 1125899906842624, "Ei": 1152921504606846976}[.s // ""];

# Pod Security "restricted" and requests and limits, as test/chart/restricted.ts words them: [problem, fix].
def restricted:
  . as $spec
  | ($spec.securityContext // {}) as $pod
  | (if ($spec.hostNetwork or $spec.hostPID or $spec.hostIPC) then
      ["uses host namespaces", "remove hostNetwork, hostPID and hostIPC from the pod spec"] else empty end),
    (($spec.volumes // [])[] | select(type == "object")
      | ((keys_unsorted | map(select(. != "name")) | first) // null) as $type
      | select($type != null and (allowed_volumes | index([$type]) | not))
      | ["volume \(.name) is of type \($type)", "use one of \(allowed_volumes | join(", ")) instead"]),
    ($spec | containers_of[]
      | (.securityContext // {}) as $sc
      | "container \(.name)" as $at
      | (if $sc.privileged == true then ["\($at): privileged", "remove securityContext.privileged"] else empty end),
        (if $sc.allowPrivilegeEscalation != false then
          ["\($at): allowPrivilegeEscalation is not false", "set securityContext.allowPrivilegeEscalation: false"] else empty end),
        (if any(($sc.capabilities.drop? // [])[]; . == "ALL") | not then
          ["\($at): does not drop ALL capabilities", "set securityContext.capabilities.drop: [ALL]"] else empty end),
        (if any(($sc.capabilities.add? // [])[]; . != "NET_BIND_SERVICE") then
          ["\($at): adds capabilities", "add no capability other than NET_BIND_SERVICE"] else empty end),
        (if either($sc.runAsNonRoot; $pod.runAsNonRoot) != true then
          ["\($at): runAsNonRoot is not true", "set securityContext.runAsNonRoot: true (pod or container) and run as a non-zero uid"] else empty end),
        (if either($sc.runAsUser; $pod.runAsUser) == 0 then
          ["\($at): runs as uid 0", "set securityContext.runAsUser to a non-zero uid"] else empty end),
        (if (either($sc.seccompProfile; $pod.seccompProfile) | .type?) as $t | ($t == "RuntimeDefault" or $t == "Localhost") | not then
          ["\($at): seccompProfile is not RuntimeDefault", "set securityContext.seccompProfile.type: RuntimeDefault (pod or container)"] else empty end),
        (. as $c | ("requests", "limits") as $kind | ("cpu", "memory") as $r
          | select(($c.resources?[$kind]?[$r]?) as $v | $v == null or $v == "" or $v == 0 or $v == false)
          | ["\($at): no \($kind).\($r)", "set resources.\($kind).\($r)"]),
        (if any((.ports // [])[]; (.hostPort? // 0) != 0) then
          ["\($at): uses a hostPort", "remove hostPort from the container's ports (the Service and Ingress reach it)"] else empty end));

# Each container against the LimitRange: the limit it ends up with (its own, else the default) at
# most max, the request it ends up with (its own, else its limit, else the default request) at most
# that limit, and its own request at most max (one taken from its limit is reported as the limit).
# [problem, fix].
def fits($limits):
  containers_of[]
  | . as $c
  | "container \(.name)" as $at
  | $limits[]
  | . as $lr
  | (($lr.max // {}) | keys_unsorted[]) as $r
  | ($c.resources?.limits?[$r]?) as $own_limit
  | ($c.resources?.requests?[$r]?) as $own_request
  | either($own_limit; $lr.default?[$r]?) as $limit
  | either($own_request; either($own_limit; $lr.defaultRequest?[$r]?)) as $request
  | (if $own_limit != null and (($own_limit | quantity) // null) == null then
      ["\($at): limits.\($r) \($own_limit) is not a quantity", "write resources.limits.\($r) as a Kubernetes quantity such as 500m or 256Mi"]
    elif $own_request != null and (($own_request | quantity) // null) == null then
      ["\($at): requests.\($r) \($own_request) is not a quantity", "write resources.requests.\($r) as a Kubernetes quantity such as 50m or 64Mi"]
    else
      (if $limit != null and ($limit | quantity) > ($lr.max[$r] | quantity) then
        ["\($at): limits.\($r) \($limit) is above the LimitRange max \($lr.max[$r])", "set resources.limits.\($r) to at most \($lr.max[$r])"]
      else empty end),
      (if $request != null and $limit != null and ($request | quantity) > ($limit | quantity) then
        ["\($at): requests.\($r) \($request) is above its limit \($limit)", "set resources.requests.\($r) to at most its limit"]
      elif $own_request != null and ($own_request | quantity) > ($lr.max[$r] | quantity) then
        ["\($at): requests.\($r) \($request) is above the LimitRange max \($lr.max[$r])", "set resources.requests.\($r) to at most \($lr.max[$r])"]
      else empty end)
    end);

def allowed_host: type == "string" and ($host != "") and (. == $host or endswith("." + $host));

def ingress_checks:
  where as $w
  | (.spec // {}) as $spec
  | (($spec.rules // [])[] | select(type == "object")
      | if (.host | allowed_host) then empty
        elif .host == null then fail($w; "a rule has no host (it would answer for every host)"; "set the rule's host from .Values.ingress.host")
        else fail($w; "rule host \(.host) is neither the preview host \($host) nor a name under it"; "take the host from .Values.ingress.host")
        end),
    (($spec.tls // [])[] | select(type == "object") | (.hosts // [])[] | select(allowed_host | not)
      | fail($w; "TLS host \(.) is neither the preview host \($host) nor a name under it"; "take the TLS hosts from .Values.ingress.host")),
    (if $spec.defaultBackend != null then
      fail($w; "sets a defaultBackend (it would answer for hosts that are not the preview's)"; "remove spec.defaultBackend; route the preview host with a rule")
    else empty end),
    (if $ingress_class != "" then
      either($spec.ingressClassName; .metadata.annotations?["kubernetes.io/ingress.class"]?) as $class
      | if $class == $ingress_class then empty
        else fail($w; "IngressClass is \($class // "not set"), not \($ingress_class)"; "set spec.ingressClassName from .Values.ingress.className")
        end
    else empty end);

def service_checks:
  where as $w
  | (.spec // {}) as $spec
  | (if $spec.type == "LoadBalancer" or $spec.type == "NodePort" then
      fail($w; "is of type \($spec.type) (the preview's quota allows none; previews are reached through the Ingress)"; "use type ClusterIP")
    elif $spec.type == "ExternalName" then
      fail($w; "is of type ExternalName (a name the ingress controller would proxy to outside the preview)"; "use type ClusterIP with the preview's own pods")
    else empty end),
    (if ($spec.externalIPs // []) | length > 0 then
      fail($w; "sets externalIPs (it would capture traffic meant for those addresses)"; "remove spec.externalIPs")
    else empty end);

# Where helm would create the object, and whether the deployer may: [problem, fix].
def placement:
  ((.apiVersion // "") | if contains("/") then split("/")[0] else "" end) as $group
  | "\($group)/\(.kind // "")" as $kind
  | (if deployer_kinds | index([$kind]) then empty
     else ["is a \(if $group == "" then "" else "\($group) " end)\(.kind // "?") (the preview's deployer may create only \(deployer_kinds | map(split("/")[1]) | join(", ")))",
       "leave it out of the chart (or ask the platform team to allow it)"]
     end),
    (if (.metadata.namespace? // $namespace) != $namespace then
      ["is placed in namespace \(.metadata.namespace), outside the preview's (\($namespace))", "remove metadata.namespace, or take it from .Release.Namespace"]
     else empty end);

def finalizer_checks:
  where as $w
  | (.metadata.finalizers // [])[] | select(. as $f | system_finalizers | index([$f]) | not)
  | fail($w; "sets the finalizer \(.) (nobody removes it, so the preview namespace would never finish deleting)"; "remove metadata.finalizers");

([$limit_range.spec.limits[]? | select(.type == "Container")]) as $limits
| map(select(type == "object")) as $objects
| ($objects[] | (
    where as $w
    | (placement | fail($w; .[0]; .[1])),
      (pod_spec | (restricted, fits($limits)) | fail($w; .[0]; .[1])),
      (select(.kind == "Ingress") | ingress_checks),
      (select(.kind == "Service") | service_checks),
      finalizer_checks
  )),
  (if any($objects[]; .kind == "Ingress") | not then
    fail("the chart"; "renders no Ingress"; "render an Ingress for .Values.ingress.host when the values file enables it (for example ingress.enabled: true in the values file)")
  elif any($objects[] | select(.kind == "Ingress") | (.spec.rules // [])[]; .host? | allowed_host) | not then
    fail("the chart"; "no Ingress rule serves the preview host \($host)"; "give the Ingress a rule whose host is .Values.ingress.host")
  else empty end),
  ([$objects[] | where as $w | pod_spec | containers_of[] | {w: $w, name, image, imagePullPolicy}] as $containers
    | if any($containers[]; (.image | type) == "string" and (.image | endswith(":" + $tag))) | not then
        fail("the chart"; "no container image ends with :\($tag) (the tag given as image.tag)";
          "take the image's tag from .Values.image.tag")
      elif $pull_policy != "" then
        $containers[] | select((.image | type) == "string" and (.image | endswith(":" + $tag)))
        | either(.imagePullPolicy; if $tag == "latest" then "Always" else "IfNotPresent" end) as $policy
        | select($policy != $pull_policy)
        | fail(.w; "container \(.name) pulls \(.image) with imagePullPolicy \($policy), not \($pull_policy) (given as image.pullPolicy)";
            "set imagePullPolicy from .Values.image.pullPolicy")
      else empty end)
