# Shared by scripts/deploy and scripts/undeploy: one service of a Virtufin release changes,
# everything else stays byte for byte. Sourced, not run.
#
# The flow: read the release's values (helm get values), list the services it declares,
# write the one change as a values file, render the result through vf-post (helm template),
# compare it object by object with what is deployed (helm get manifest), refuse if anything
# outside the service would change, print the plan, then helm upgrade with the same values.

say() { printf '%s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$PROGRAM" "$*" >&2; exit 1; }

RELEASE=virtufin
NAMESPACE=virtufin
CHART="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/chart"
SERVICES_CHART="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/services-chart"
DRY_RUN=false
EXTRA=()        # helm arguments after `--`
VALUE_ARGS=()   # the value flags among them, which `helm template` needs too

# Splits the arguments after `--`: every one goes to helm upgrade; value flags (and --version)
# also go to helm template, which rejects upgrade-only flags such as --wait or --atomic.
take_extra() {
  EXTRA=("$@")
  while (($#)); do
    case $1 in
      -f | --values | --set | --set-string | --set-json | --set-file | --set-literal | --version)
        (($# >= 2)) || die "$1 needs a value"
        VALUE_ARGS+=("$1" "$2"); shift 2 ;;
      --values=* | --set=* | --set-string=* | --set-json=* | --set-file=* | --set-literal=* | --version=* | -f?*)
        VALUE_ARGS+=("$1"); shift ;;
      *) shift ;;
    esac
  done
}

# HELM, else helm on PATH; its major version decides what --post-renderer names
# (reference/helm.md §2): Helm 3 runs an executable found on PATH, Helm 4 an installed
# postrenderer/v1 plugin. Both take the same `--post-renderer vf-post`.
find_helm() {
  HELM=${HELM:-$(command -v helm || true)}
  [ -n "$HELM" ] || die "helm not found: put it on PATH or set HELM=/path/to/helm"
  HELM_VERSION=$("$HELM" version --template '{{.Version}}' 2>/dev/null) ||
    die "$HELM version failed"
  case $HELM_VERSION in
    v3.[0-8].*) die "Helm $HELM_VERSION has no --post-renderer-args (3.9.0 added it); use Helm 3.9 or later" ;;
    v3.*)
      command -v vf-post >/dev/null ||
        die "Helm $HELM_VERSION runs vf-post from PATH, and it is not there: run scripts/install" ;;
    v4.*)
      "$HELM" plugin list 2>/dev/null | grep -qE '^vf-post[[:space:]]' ||
        die "Helm $HELM_VERSION runs vf-post as a plugin, and none is installed: run scripts/install" ;;
    *) die "unsupported Helm version '$HELM_VERSION' (from $HELM): Helm 3.9+ or 4 is needed" ;;
  esac
}

# WORK: a private directory for the values, renders and the vf-post report; removed on exit.
make_workdir() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/vf-$PROGRAM.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
}

# The release's own values (not the chart's defaults) into $WORK/release.yaml;
# RELEASE_EXISTS tells a first install from an upgrade.
read_release() {
  local err
  if "$HELM" get values "$RELEASE" -n "$NAMESPACE" -o yaml >"$WORK/release.yaml" 2>"$WORK/err"; then
    RELEASE_EXISTS=true
    "$HELM" get manifest "$RELEASE" -n "$NAMESPACE" >"$WORK/before.yaml" ||
      die "helm get manifest $RELEASE failed"
  else
    err=$(<"$WORK/err")
    case $err in
      *"not found"*) RELEASE_EXISTS=false; : >"$WORK/release.yaml"; : >"$WORK/before.yaml" ;;
      *) die "helm get values $RELEASE -n $NAMESPACE failed: ${err:-no message}" ;;
    esac
  fi
}

# SERVICES: key -> "values-path role enabled tag" for every service the release declares,
# read by rendering scripts/lib/services-chart with the chart's and the release's values.
# NEW_SERVICES: those only the values after `--` declare (a backend deployed for the first time).
declare -A SERVICES NEW_SERVICES
list_services() {
  "$HELM" show values "$CHART" >"$WORK/chart-values.yaml" ||
    die "helm show values $CHART failed"
  declared_services "${VALUE_ARGS[@]}" >"$WORK/services"
  local key rest
  while read -r key rest; do SERVICES[$key]=$rest NEW_SERVICES[$key]=1; done <"$WORK/services"
  ((${#SERVICES[@]})) || die "could not list the services of $CHART"
  if ((${#VALUE_ARGS[@]})); then
    while read -r key rest; do unset "NEW_SERVICES[$key]"; done < <(declared_services)
  else
    NEW_SERVICES=()
  fi
}

declared_services() { # declared_services [VALUE-ARGS...]: "key path role enabled tag" lines
  local line
  "$HELM" template services "$SERVICES_CHART" -f "$WORK/chart-values.yaml" \
    -f "$WORK/release.yaml" "$@" >"$WORK/services.yaml" || die "could not list the services of $CHART"
  while IFS= read -r line; do
    [[ $line =~ ^\ \ ([a-z0-9-]+):\ \"(.*)\"$ ]] && printf '%s %s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
  done <"$WORK/services.yaml"
  return 0
}

service_field() { # service_field KEY N: field N (1 path, 2 role, 3 enabled, 4 tag)
  local -a fields
  read -r -a fields <<<"${SERVICES[$1]}"
  printf '%s' "${fields[$(($2 - 1))]}"
}

known_services() { printf '%s\n' "${!SERVICES[@]}" | sort | paste -sd, - | sed 's/,/, /g'; }

require_service() {
  [[ -n ${SERVICES[$1]+set} ]] ||
    die "unknown service '$1' in $CHART; known services: $(known_services)"
}

enabled_backends() {
  local key
  for key in "${!SERVICES[@]}"; do
    [ "$(service_field "$key" 2)" = backend ] && [ "$(service_field "$key" 3)" = true ] &&
      printf '%s\n' "$key"
  done
  return 0
}

# The change as a values file ($WORK/change.yaml), given to helm last: set_service KEY FLOW
# for each service, then write_change. Built-in services are top-level keys, the others sit
# under `backends`, which must appear once.
CHANGE_TOP="" CHANGE_BACKENDS=""
set_service() {
  case $(service_field "$1" 1) in
    backends.*) CHANGE_BACKENDS+="  $1: $2"$'\n' ;;
    *) CHANGE_TOP+="$1: $2"$'\n' ;;
  esac
}
write_change() {
  printf '%s' "$CHANGE_TOP" >"$WORK/change.yaml"
  [ -z "$CHANGE_BACKENDS" ] || printf 'backends:\n%s' "$CHANGE_BACKENDS" >>"$WORK/change.yaml"
}

# helm's --post-renderer arguments: the same on Helm 3 and 4. The report file matters on
# Helm 4, which drops a post-renderer's stderr (reference/helm.md §6).
post_render_args() {
  printf '%s\0' --post-renderer vf-post "--post-renderer-args=--report=$WORK/report.txt"
}

# Renders the release as it would be after the change into $WORK/after.yaml.
render_after() {
  local -a pr
  mapfile -d '' pr < <(post_render_args)
  if ! "$HELM" template "$RELEASE" "$CHART" -n "$NAMESPACE" -f "$WORK/release.yaml" \
    "${VALUE_ARGS[@]}" -f "$WORK/change.yaml" "${pr[@]}" >"$WORK/after.yaml" 2>"$WORK/err"; then
    say "$(<"$WORK/err")"
    [ -s "$WORK/report.txt" ] && say "$(<"$WORK/report.txt")"
    die "rendering the change through vf-post failed; nothing was changed"
  fi
}

# Splits a manifest into one file per object under DIR and prints "kind/name component file"
# per object. Hooks are left out: `helm template` prints them, `helm get manifest` does not.
index_objects() { # index_objects MANIFEST DIR
  mkdir -p "$2"
  awk -v dir="$2" '
    function flush() {
      if (body != "" && !hook && kind != "") {
        n++; file = dir "/" n ".yaml"
        sub(/\n+$/, "\n", body)  # separators and blank lines differ between Helm 3 and 4
        printf "%s", body > file; close(file)
        print kind "/" (name == "" ? "#" n : name), (component == "" ? "-" : component), file
      }
      body = ""; kind = ""; name = ""; component = ""; hook = 0; inmeta = 0
    }
    /^---/ { flush(); next }
    {
      body = body $0 "\n"
      if (kind == "" && /^kind: /) { kind = $2 }
      if (/^metadata:[[:space:]]*$/) { inmeta = 1 } else if (/^[^ #]/) { inmeta = 0 }
      if (inmeta && name == "" && /^  name: /) { name = $2; gsub(/["\047]/, "", name) }
      if (component == "" && /app\.kubernetes\.io\/component: /) {
        component = $2; gsub(/["\047]/, "", component)
      }
      if (/^    "?helm\.sh\/hook"?: /) { hook = 1 }
    }
    END { flush() }
  ' "$1" | sort
}

# Compares before and after object by object. Prints "change kind/name" lines (added,
# removed, changed) into $WORK/changes and fails, naming them, if an object outside SERVICE
# would change. Allowed beyond SERVICE's own objects: the services.json ConfigMap, and the
# gateway's checksum of it, when a backend comes or goes; and when SERVICE is declared for the
# first time, its app id joining the scopes of the Dapr objects.
compare_renders() { # compare_renders SERVICE
  local service=$1 key component file
  local -A before_file after_file component_of
  while read -r key component file; do
    before_file[$key]=$file component_of[$key]=$component
  done < <(index_objects "$WORK/before.yaml" "$WORK/before")
  while read -r key component file; do
    after_file[$key]=$file component_of[$key]=$component
  done < <(index_objects "$WORK/after.yaml" "$WORK/after")

  : >"$WORK/changes"
  for key in "${!before_file[@]}" "${!after_file[@]}"; do
    if [ -z "${after_file[$key]:-}" ]; then echo "removed $key"
    elif [ -z "${before_file[$key]:-}" ]; then echo "added $key"
    elif ! cmp -s "${before_file[$key]}" "${after_file[$key]}"; then echo "changed $key"
    fi
  done | sort -u -k2 >"$WORK/changes"

  $RELEASE_EXISTS || return 0 # a first install brings the shared objects with it
  local change outside=()
  while read -r change key; do
    component=${component_of[$key]}
    [ "$component" = "$service" ] && continue
    [[ $key == ConfigMap/*-services ]] && continue
    if [ "$change" = changed ]; then
      only_checksum_differs "${before_file[$key]}" "${after_file[$key]}" && continue
      [[ -n ${NEW_SERVICES[$service]+new} ]] &&
        only_scopes_differ "${before_file[$key]}" "${after_file[$key]}" && continue
    fi
    outside+=("$change $key")
  done <"$WORK/changes"
  if ((${#outside[@]})); then
    say "this would also change objects outside $service:"
    printf '  %s\n' "${outside[@]}" >&2
    die "refusing a single-service change that touches other objects (a chart or vf-post upgrade?); upgrade the whole release with helm instead"
  fi
}

only_checksum_differs() {
  cmp -s <(grep -v 'checksum/services-json:' "$1") <(grep -v 'checksum/services-json:' "$2")
}

only_scopes_differ() { # the top-level `scopes:` list of a Dapr object
  local strip='/^scopes:/ { s = 1; next } s && /^[^ -]/ { s = 0 } !s'
  cmp -s <(awk "$strip" "$1") <(awk "$strip" "$2")
}

# Prints the plan: the change, each object it touches and the helm command that applies it.
print_plan() { # print_plan SUMMARY
  say "$1"
  say "  release $RELEASE, namespace $NAMESPACE, chart $CHART, Helm $HELM_VERSION"
  if [ -s "$WORK/changes" ]; then
    sed 's/^/  /' "$WORK/changes" >&2
  else
    say "  no object changes"
  fi
  local -a command
  mapfile -d '' command < <(upgrade_command)
  say "  command: ${command[*]}"
}

upgrade_command() {
  local -a cmd=("$HELM" upgrade --install "$RELEASE" "$CHART" -n "$NAMESPACE"
    -f "$WORK/release.yaml" "${EXTRA[@]}" -f "$WORK/change.yaml")
  $RELEASE_EXISTS || cmd+=(--create-namespace)
  printf '%s\0' "${cmd[@]}"
  post_render_args
}

# --dry-run: show the change as a diff and stop. Otherwise run helm upgrade; on failure
# show vf-post's report (Helm 4 does not pass on its stderr).
apply_change() {
  if $DRY_RUN; then
    diff -u --label "deployed ($RELEASE)" --label "after" "$WORK/before.yaml" "$WORK/after.yaml" || true
    say "dry run: nothing was changed"
    return
  fi
  if [ ! -s "$WORK/changes" ]; then
    say "nothing to do"
    return
  fi
  local -a command
  mapfile -d '' command < <(upgrade_command)
  if ! "${command[@]}"; then
    [ -s "$WORK/report.txt" ] && say "$(<"$WORK/report.txt")"
    die "helm upgrade failed"
  fi
}
