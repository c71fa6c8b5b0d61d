// Package kubetest starts a real Kubernetes control plane for tests: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok with
// fake nodes whose pods become ready without a kubelet (installed by
// scripts/install/kubernetes.sh). One cluster serves a whole test binary;
// each test gets its own namespaces:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
//
//	func TestX(t *testing.T) {
//		c := kubetest.Start(t)
//		ns := c.Namespace(t)
//		kubeconfig := c.Kubeconfig(t, map[string]string{"eqiad": ns})
//		c.Deployment(t, ns, "mw-api", 3, image)
//	}
//
// Two data centres are emulated by two kubeconfig contexts pointing at the
// same cluster with different default namespaces: the bot cannot tell the
// difference, since it keeps one client per context.
package kubetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/jouncebot/jouncebot/internal/testenv"
)

// Binaries are the programs the harness starts, from the test bin
// directory (see BinDirs); kwok-stages.yaml lies beside them.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// Nodes is how many fake nodes the cluster has.
const Nodes = 3

// BinDirs are the directories searched for the binaries, as
// scripts/install/kubernetes.sh chooses them: $JOUNCEBOT_TEST_BIN,
// /usr/local/lib/jouncebot-test/bin, ~/.cache/jouncebot/bin.
func BinDirs() []string {
	var dirs []string
	if d := os.Getenv("JOUNCEBOT_TEST_BIN"); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, "/usr/local/lib/jouncebot-test/bin")
	if h, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(h, ".cache", "jouncebot", "bin"))
	}
	return dirs
}

// BinDir returns the first directory holding every binary and the kwok
// stages.
func BinDir() (string, error) {
	for _, d := range BinDirs() {
		ok := true
		for _, b := range append(Binaries, "kwok-stages.yaml") {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				ok = false
			}
		}
		if ok {
			return d, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s; run scripts/install/kubernetes.sh", strings.Join(Binaries, ", "), strings.Join(BinDirs(), ", "))
}

// Cluster is a running test cluster.
type Cluster struct {
	// Dir holds the certificates, the data and the logs.
	Dir string
	// AdminKubeconfig has one context, "admin", in namespace default.
	AdminKubeconfig string
	// Client is an admin client.
	Client kubernetes.Interface
	// Bin is the directory of the binaries (kubectl is there too).
	Bin string

	server string
	pki    *pki
	procs  []*exec.Cmd
	seq    int
	mu     sync.Mutex
}

var (
	once    sync.Once
	shared  *Cluster
	failure error
)

// Main runs the tests of a binary, then stops its cluster if one was
// started. Use it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.stop()
	}
	return code
}

// Start returns the binary's cluster, starting it on first use. A missing
// binary skips the test, or fails it under JOUNCEBOT_TEST_SERVERS=required;
// a cluster that does not start fails it.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin, err := BinDir()
	if err != nil {
		testenv.Missing(t, "kubetest: "+err.Error())
	}
	once.Do(func() { shared, failure = start(bin) })
	if failure != nil {
		t.Fatalf("kubetest: start the cluster: %v", failure)
	}
	return shared
}

func freePorts(n int) ([]int, error) { return testenv.FreePorts(n) }

func start(bin string) (c *Cluster, err error) {
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{Dir: dir, Bin: bin}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	if c.pki, err = newPKI(dir); err != nil {
		return nil, err
	}
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	etcd, peer, api, kcm, sched := ports[0], ports[1], ports[2], ports[3], ports[4]
	c.server = fmt.Sprintf("https://127.0.0.1:%d", api)
	c.AdminKubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := c.writeKubeconfig(c.AdminKubeconfig, map[string]string{"admin": "default"}); err != nil {
		return nil, err
	}
	b := func(n string) string { return filepath.Join(bin, n) }
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcd)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	if err := c.run("etcd", b("etcd"), "--name", "kubetest", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "kubetest="+peerURL, "--unsafe-no-fsync", "--quota-backend-bytes=2147483648"); err != nil {
		return nil, err
	}
	p := c.pki
	if err := c.run("kube-apiserver", b("kube-apiserver"), "--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(api),
		"--tls-cert-file="+p.serverCert, "--tls-private-key-file="+p.serverKey, "--client-ca-file="+p.caCert,
		"--service-account-key-file="+p.saPub, "--service-account-signing-key-file="+p.saKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=Node,RBAC",
		"--enable-priority-and-fairness=false", "--endpoint-reconciler-type=none",
		"--max-requests-inflight=2000", "--max-mutating-requests-inflight=1000", "--v=1"); err != nil {
		return nil, err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig)
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = 500, 1000
	if c.Client, err = kubernetes.NewForConfig(rc); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Scale(60*time.Second))
	defer cancel()
	if err := c.waitReady(ctx, rc); err != nil {
		return nil, err
	}
	if err := c.run("kube-controller-manager", b("kube-controller-manager"), "--kubeconfig="+c.AdminKubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(kcm), "--leader-elect=false",
		"--service-account-private-key-file="+p.saKey, "--root-ca-file="+p.caCert,
		"--cluster-signing-cert-file="+p.caCert, "--cluster-signing-key-file="+p.caKey,
		"--use-service-account-credentials=false", "--controllers=*",
		"--kube-api-qps=500", "--kube-api-burst=1000", "--concurrent-deployment-syncs=20", "--concurrent-replicaset-syncs=20", "--v=1"); err != nil {
		return nil, err
	}
	if err := c.run("kube-scheduler", b("kube-scheduler"), "--kubeconfig="+c.AdminKubeconfig,
		"--authentication-kubeconfig="+c.AdminKubeconfig, "--authorization-kubeconfig="+c.AdminKubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(sched), "--leader-elect=false",
		"--kube-api-qps=500", "--kube-api-burst=1000", "--v=1"); err != nil {
		return nil, err
	}
	if err := c.run("kwok", b("kwok"), "--kubeconfig="+c.AdminKubeconfig, "--config="+b("kwok-stages.yaml"),
		"--manage-all-nodes=true", "--node-lease-duration-seconds=40", "--cidr=10.244.0.0/16", "--node-ip=127.0.0.1"); err != nil {
		return nil, err
	}
	if err := c.addNodes(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// run starts a server in its own process group, killed with the test
// binary (Pdeathsig) or by stop.
func (c *Cluster) run(name, path string, args ...string) error {
	log, err := os.Create(filepath.Join(c.Dir, name+".log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "OTEL_SDK_DISABLED=true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	c.procs = append(c.procs, cmd)
	return nil
}

func (c *Cluster) stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
		_ = p.Wait()
	}
	c.procs = nil
	if os.Getenv("KUBETEST_KEEP") == "" {
		os.RemoveAll(c.Dir)
	}
}

// logTail is the end of a server's log, for a failure message.
func (c *Cluster) logTail(name string) string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, name+".log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func (c *Cluster) waitReady(ctx context.Context, rc *rest.Config) error {
	for {
		var status int
		res := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).StatusCode(&status)
		if res.Error() == nil && status == 200 {
			return nil
		}
		if p := c.procs[len(c.procs)-1]; p.ProcessState != nil {
			return fmt.Errorf("kube-apiserver exited: %s", c.logTail("kube-apiserver"))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready: %v\n%s", res.Error(), c.logTail("kube-apiserver"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) addNodes(ctx context.Context) error {
	for i := 1; i <= Nodes; i++ {
		name := fmt.Sprintf("kwok-node-%d", i)
		n := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name,
				Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
				Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}},
			Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("320"), corev1.ResourceMemory: resource.MustParse("2560Gi"), corev1.ResourcePods: resource.MustParse("5000")},
				Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("320"), corev1.ResourceMemory: resource.MustParse("2560Gi"), corev1.ResourcePods: resource.MustParse("5000")},
			},
		}
		if _, err := c.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create node %s: %w", name, err)
		}
	}
	return poll(ctx, "fake nodes ready", func() (bool, error) {
		l, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		ready := 0
		for _, n := range l.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == Nodes, nil
	})
}

// poll calls cond every 50ms until it holds, fails or ctx ends.
func poll(ctx context.Context, what string, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// writeKubeconfig writes a kubeconfig with the admin credentials and one
// context per entry of contexts (name → default namespace).
func (c *Cluster) writeKubeconfig(path string, contexts map[string]string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: c.server, CertificateAuthorityData: c.pki.caPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.pki.adminPEM, ClientKeyData: c.pki.adminKP}
	for name, ns := range contexts {
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "admin", Namespace: ns}
		cfg.CurrentContext = name
	}
	return clientcmd.WriteToFile(*cfg, path)
}

// Kubeconfig writes a kubeconfig for the test with the given contexts
// (name → default namespace), all pointing at the cluster.
func (c *Cluster) Kubeconfig(t testing.TB, contexts map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := c.writeKubeconfig(path, contexts); err != nil {
		t.Fatal(err)
	}
	return path
}

// Namespace creates a fresh namespace, deleted when the test ends, and
// waits for its default service account (pods need it).
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	c.mu.Lock()
	c.seq++
	name := fmt.Sprintf("t%d-%s", c.seq, strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())))
	c.mu.Unlock()
	if len(name) > 60 {
		name = strings.TrimRight(name[:60], "-")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Scale(30*time.Second))
	defer cancel()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("kubetest: create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	if err := poll(ctx, "the default service account", func() (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatalf("kubetest: namespace %s: %v", name, err)
	}
	return name
}

// Deployment creates a Deployment of replicas pods whose container "app"
// runs image (rolling updates with 25% surge, none unavailable), and
// waits until it is rolled out.
func (c *Cluster) Deployment(t testing.TB, ns, name string, replicas int32, image string, labels map[string]string) *appsv1.Deployment {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Scale(60*time.Second))
	defer cancel()
	if err := c.CreateDeployment(ctx, ns, name, replicas, image, labels); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	if err := c.WaitRolledOut(ctx, ns, name); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	got, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// CreateDeployment creates the Deployment Deployment makes, without
// waiting for it.
func (c *Cluster) CreateDeployment(ctx context.Context, ns, name string, replicas int32, image string, labels map[string]string) error {
	sel := map[string]string{"app": name}
	all := map[string]string{"app": name}
	for k, v := range labels {
		all[k] = v
	}
	deadline := int32(600) // Kubernetes' default; Block shortens it
	quarter := intstr.FromString("25%")
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: all},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: sel}, ProgressDeadlineSeconds: &deadline,
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &quarter, MaxUnavailable: &intstr.IntOrString{}}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}},
					// kwok's fake nodes: schedule there, tolerate their taint.
					Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}},
			},
		},
	}
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create deployment %s/%s: %w", ns, name, err)
	}
	return nil
}

// WaitRolledOut waits until the Deployment's rollout is complete.
func (c *Cluster) WaitRolledOut(ctx context.Context, ns, name string) error {
	return poll(ctx, "deployment "+ns+"/"+name+" rolled out", func() (bool, error) {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		st, want := d.Status, *d.Spec.Replicas
		return d.Generation <= st.ObservedGeneration && st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want, nil
	})
}

// Images returns the images the pods of a Deployment run, counted.
func (c *Cluster) Images(ctx context.Context, ns, name string) (map[string]int, error) {
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, cs := range p.Spec.Containers {
			out[cs.Image]++
		}
	}
	return out, nil
}

// Block stops the Deployments of ns from creating pods (a ResourceQuota of
// the pods there now) and shortens their progress deadline to 2 s: a
// rollout then never makes progress, and says so soon.
func (c *Cluster) Block(t testing.TB, ns string) {
	t.Helper()
	ctx := context.Background()
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "block"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(int64(len(pods.Items)), resource.DecimalSI)}}}
	if _, err := c.Client.CoreV1().ResourceQuotas(ns).Create(ctx, q, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The quota counts once its controller has seen it.
	if err := poll(ctx, "the quota", func() (bool, error) {
		q, err := c.Client.CoreV1().ResourceQuotas(ns).Get(ctx, "block", metav1.GetOptions{})
		return err == nil && q.Status.Hard != nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	deps, err := c.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps.Items {
		patch := []byte(`{"spec":{"progressDeadlineSeconds":2}}`)
		if _, err := c.Client.AppsV1().Deployments(ns).Patch(ctx, d.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}
