// The lab's `ovs` CNI delegate: the pod's veth on the node's Open vSwitch bridge as an access port tagged
// with the link VLAN, TX checksum offload off on the pod side (the userspace netdev datapath never fills in
// a partial checksum, so TCP would break), IPAM delegated when configured. It reads the ovs-cni config
// subset Patchbay's NADs carry (bridge, vlan, mtu, socket_file), and stands in for ovs-cni, which the Go
// module proxy does not serve here. OVS is driven with ovs-vsctl, which waits until ovs-vswitchd has the port:
// when ADD returns, the port forwards.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ip"
	"github.com/containernetworking/plugins/pkg/ipam"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

type netConf struct {
	types.NetConf
	Bridge     string `json:"bridge"`
	Vlan       *int   `json:"vlan,omitempty"`
	MTU        int    `json:"mtu,omitempty"`
	SocketFile string `json:"socket_file,omitempty"`
}

func loadConf(data []byte) (*netConf, error) {
	conf := &netConf{}
	if err := json.Unmarshal(data, conf); err != nil {
		return nil, fmt.Errorf("failed to parse the network configuration: %v", err)
	}
	if conf.Bridge == "" {
		return nil, errors.New(`"bridge" is required`)
	}
	if conf.Vlan != nil && (*conf.Vlan < 0 || *conf.Vlan > 4094) {
		return nil, fmt.Errorf(`"vlan" %d is not in 0..4094`, *conf.Vlan)
	}
	return conf, nil
}

// The OVSDB socket: the config's, else OVS_RUNDIR's (as the OVS tools do), else the Debian default.
func dbOf(conf *netConf) string {
	if conf.SocketFile != "" {
		return "unix:" + conf.SocketFile
	}
	if dir := os.Getenv("OVS_RUNDIR"); dir != "" {
		return "unix:" + filepath.Join(dir, "db.sock")
	}
	return "unix:/var/run/openvswitch/db.sock"
}

// Deterministic, so DEL finds the port without a previous result; 15 characters at most (IFNAMSIZ).
func hostIfName(containerID, ifName string) string {
	sum := sha256.Sum256([]byte(containerID + "/" + ifName))
	return "pb" + hex.EncodeToString(sum[:])[:12]
}

func vsctl(conf *netConf, args ...string) error {
	full := append([]string{"--db=" + dbOf(conf), "--timeout=10"}, args...)
	out, err := exec.Command("ovs-vsctl", full...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ovs-vsctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func txChecksumOff(netnsPath, ifName string) error {
	out, err := exec.Command("nsenter", "--net="+netnsPath, "ethtool", "-K", ifName, "tx", "off").CombinedOutput()
	if err != nil {
		return fmt.Errorf("ethtool -K %s tx off: %v: %s", ifName, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func cmdAdd(args *skel.CmdArgs) (err error) {
	conf, err := loadConf(args.StdinData)
	if err != nil {
		return err
	}
	netns, err := ns.GetNS(args.Netns)
	if err != nil {
		return fmt.Errorf("failed to open netns %q: %v", args.Netns, err)
	}
	defer netns.Close()
	hostNS, err := ns.GetCurrentNS()
	if err != nil {
		return err
	}
	defer hostNS.Close()

	host := hostIfName(args.ContainerID, args.IfName)
	var hostIface, contIface net.Interface
	if err := netns.Do(func(_ ns.NetNS) error {
		var e error
		hostIface, contIface, e = ip.SetupVethWithName(args.IfName, host, conf.MTU, "", hostNS)
		if e != nil {
			return e
		}
		// Up even without IPAM (addresses may come later); ConfigureIface would do it otherwise.
		link, e := netlink.LinkByName(args.IfName)
		if e != nil {
			return e
		}
		return netlink.LinkSetUp(link)
	}); err != nil {
		return err
	}
	// ADD undoes itself on failure: the veth pair (both ends go with either) and the OVS port.
	defer func() {
		if err == nil {
			return
		}
		_ = vsctl(conf, "--if-exists", "del-port", conf.Bridge, host)
		_ = netns.Do(func(_ ns.NetNS) error { return ip.DelLinkByName(args.IfName) })
	}()
	if err = txChecksumOff(args.Netns, args.IfName); err != nil {
		return err
	}
	portArgs := []string{"--may-exist", "add-port", conf.Bridge, host}
	if conf.Vlan != nil && *conf.Vlan > 0 {
		portArgs = append(portArgs, "tag="+strconv.Itoa(*conf.Vlan), "vlan_mode=access")
	}
	portArgs = append(portArgs, "--", "set", "Interface", host,
		"external_ids:container_id="+args.ContainerID, "external_ids:container_iface="+args.IfName)
	if err = vsctl(conf, portArgs...); err != nil {
		return err
	}

	result := &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{
			{Name: hostIface.Name, Mac: hostIface.HardwareAddr.String()},
			{Name: contIface.Name, Mac: contIface.HardwareAddr.String(), Sandbox: args.Netns},
		},
	}
	if conf.IPAM.Type != "" {
		var r types.Result
		r, err = ipam.ExecAdd(conf.IPAM.Type, args.StdinData)
		if err != nil {
			return err
		}
		defer func() {
			if err != nil {
				_ = ipam.ExecDel(conf.IPAM.Type, args.StdinData)
			}
		}()
		var ipamResult *current.Result
		ipamResult, err = current.NewResultFromResult(r)
		if err != nil {
			return err
		}
		if len(ipamResult.IPs) == 0 {
			err = errors.New("IPAM plugin returned no IP addresses")
			return err
		}
		one := 1
		for _, ipc := range ipamResult.IPs {
			ipc.Interface = &one
		}
		result.IPs = ipamResult.IPs
		result.Routes = ipamResult.Routes
		result.DNS = ipamResult.DNS
		if err = netns.Do(func(_ ns.NetNS) error { return ipam.ConfigureIface(args.IfName, result) }); err != nil {
			return err
		}
	}
	return types.PrintResult(result, conf.CNIVersion)
}

func cmdDel(args *skel.CmdArgs) error {
	conf, err := loadConf(args.StdinData)
	if err != nil {
		return err
	}
	if conf.IPAM.Type != "" {
		if err := ipam.ExecDel(conf.IPAM.Type, args.StdinData); err != nil {
			return err
		}
	}
	host := hostIfName(args.ContainerID, args.IfName)
	if err := vsctl(conf, "--if-exists", "del-port", conf.Bridge, host); err != nil {
		return err
	}
	// DEL is idempotent: a gone namespace or link is success. The host end goes with the pod end.
	if args.Netns != "" {
		if netns, err := ns.GetNS(args.Netns); err == nil {
			defer netns.Close()
			_ = netns.Do(func(_ ns.NetNS) error { return ip.DelLinkByName(args.IfName) })
		}
	}
	_ = ip.DelLinkByName(host)
	return nil
}

func cmdCheck(args *skel.CmdArgs) error {
	conf, err := loadConf(args.StdinData)
	if err != nil {
		return err
	}
	host := hostIfName(args.ContainerID, args.IfName)
	out, err := exec.Command("ovs-vsctl", "--db="+dbOf(conf), "--timeout=10", "port-to-br", host).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != conf.Bridge {
		return fmt.Errorf("port %s is not on bridge %s: %s", host, conf.Bridge, strings.TrimSpace(string(out)))
	}
	return nil
}

func main() {
	skel.PluginMainFuncs(skel.CNIFuncs{Add: cmdAdd, Del: cmdDel, Check: cmdCheck},
		version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"),
		"Patchbay lab ovs delegate: veth into the node OVS bridge, access tag = link VLAN")
}
