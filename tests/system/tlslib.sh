# tlslib.sh — a private PKI for the system tests (openssl(1) only): the fleet's CA, host
# certificates (EC P-256, serverAuth + clientAuth, DNS subjectAltNames), an expired one, and a
# CA of another fleet.  Source it; every file goes under the directory given.

# tls_ca DIR NAME: DIR/NAME.crt + DIR/NAME.key, a self-signed CA
tls_ca() {
    local d=$1 n=$2
    mkdir -p "$d"
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=$n" -keyout "$d/$n.key" -out "$d/$n.crt" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        >/dev/null 2>&1 || { echo "tls_ca: openssl failed" >&2; return 1; }
}

# tls_sans SAN...: "DNS:a,DNS:b,IP:c" (a SAN written IP:ADDR stays as it is)
tls_sans() {
    local sans="" s
    for s in "$@"; do [[ $s == IP:* ]] && sans+="${sans:+,}$s" || sans+="${sans:+,}DNS:$s"; done
    printf '%s' "$sans"
}

# tls_cert DIR CA NAME SAN...: DIR/NAME.crt + DIR/NAME.key signed by DIR/CA, valid for 30 days,
# with DNS:SAN for each SAN (IP:ADDR for an address)
tls_cert() {
    local d=$1 ca=$2 n=$3 sans
    shift 3
    sans=$(tls_sans "$@")
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
        -keyout "$d/$n.key" -out "$d/$n.csr" >/dev/null 2>&1 || return 1
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' \
        "$sans" >"$d/$n.ext"
    openssl x509 -req -in "$d/$n.csr" -CA "$d/$ca.crt" -CAkey "$d/$ca.key" -CAcreateserial \
        -days 30 -extfile "$d/$n.ext" -out "$d/$n.crt" >/dev/null 2>&1 ||
        { echo "tls_cert: openssl failed" >&2; return 1; }
}

# tls_cert_expired DIR CA NAME SAN...: like tls_cert, but valid only in January 2020
tls_cert_expired() {
    local d=$1 ca=$2 n=$3 sans
    shift 3
    sans=$(tls_sans "$@")
    local c=$d/ca-$n
    mkdir -p "$c"
    : >"$c/index.txt"
    echo 1000 >"$c/serial"
    cat >"$c/ca.cnf" <<EOF
[ca]
default_ca = here
[here]
dir = $c
database = $c/index.txt
serial = $c/serial
new_certs_dir = $c
certificate = $d/$ca.crt
private_key = $d/$ca.key
default_md = sha256
policy = any
copy_extensions = none
x509_extensions = ext
[any]
commonName = supplied
[ext]
subjectAltName = $sans
extendedKeyUsage = serverAuth,clientAuth
basicConstraints = CA:FALSE
EOF
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
        -keyout "$d/$n.key" -out "$d/$n.csr" >/dev/null 2>&1 || return 1
    openssl ca -batch -config "$c/ca.cnf" -in "$d/$n.csr" -out "$d/$n.crt" \
        -startdate 20200101000000Z -enddate 20200201000000Z -notext >/dev/null 2>&1 ||
        { echo "tls_cert_expired: openssl failed" >&2; return 1; }
}

# tls_fleet DIR HOST[=IP]...: the fleet CA "fleet-ca" and one certificate per host naming it
# (the owner TXT's host name), HOST.vmgate-hosts.$ZONE (the SRV target) and IP when given
# (listen-https clients check the address they connect to).  Nothing is made again when the
# CA exists (a test may have made its own fleet first).
tls_fleet() {
    local d=$1 h ip
    shift
    [[ -f $d/fleet-ca.crt ]] && return 0
    tls_ca "$d" fleet-ca || return 1
    for h in "$@"; do
        ip=""
        [[ $h == *=* ]] && ip="IP:${h#*=}" && h=${h%%=*}
        tls_cert "$d" fleet-ca "$h" "$h" "$h.vmgate-hosts.${ZONE:-vm.test}" ${ip:+"$ip"} || return 1
    done
}

# tls_gw_conf DIR HOST: the [gateway] lines of HOST's certificate
tls_gw_conf() {
    printf 'tls-ca = %s/fleet-ca.crt\ntls-cert = %s/%s.crt\ntls-key = %s/%s.key\n' "$1" "$1" "$2" "$1" "$2"
}
