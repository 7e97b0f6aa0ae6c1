import ipaddress

net = ipaddress.ip_network("192.168.1.0/28")
print(net, net.num_addresses, net.netmask, net.broadcast_address, net.is_private)
hosts = list(net.hosts())
print(hosts[0], hosts[-1], len(hosts))
addr = ipaddress.ip_address("192.168.1.7")
print(addr in net, addr + 5, int(addr), addr.version, ipaddress.ip_address("::1").is_loopback)
print(list(net.subnets(new_prefix=30))[:2], ipaddress.ip_interface("10.1.2.3/24").network)
print(list(ipaddress.collapse_addresses([ipaddress.ip_network("10.0.0.0/25"), ipaddress.ip_network("10.0.0.128/25")])))
