// Reads the <Cluster> of a server.xml with Tomcat's own Digester and ClusterRuleSet (as Catalina
// does), then prints the objects Tomcat built and every property value their getters report, as one
// JSON object: the ground truth for tribes.config's loader (tests/interop/test_config_digester.py).
// Usage: ConfigDigesterCheck server.xml [Server/Service/Engine/ | Server/Service/Engine/Host/]
import java.io.File;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

import org.apache.catalina.ha.ClusterListener;
import org.apache.catalina.ha.ClusterRuleSet;
import org.apache.catalina.ha.tcp.SimpleTcpCluster;
import org.apache.catalina.tribes.ChannelInterceptor;
import org.apache.catalina.tribes.group.GroupChannel;
import org.apache.catalina.tribes.transport.ReplicationTransmitter;
import org.apache.tomcat.util.digester.Digester;

public class ConfigDigesterCheck {

    static String q(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static String value(Object v) {
        if (v == null) return "null";
        if (v instanceof String) return q((String) v);
        if (v instanceof Boolean || v instanceof Integer || v instanceof Long) return v.toString();
        if (v instanceof byte[]) {
            StringBuilder b = new StringBuilder("\"{");
            byte[] a = (byte[]) v;
            for (int i = 0; i < a.length; i++) b.append(i > 0 ? "," : "").append(a[i]);
            return b.append("}\"").toString();
        }
        return null; // not a configuration value
    }

    static String describe(Object o) {
        if (o == null) return "null";
        StringBuilder out = new StringBuilder("{\"className\":").append(q(o.getClass().getName()));
        out.append(",\"attributes\":{");
        TreeSet<String> props = new TreeSet<>();
        for (Method m : o.getClass().getMethods()) {
            if (Modifier.isStatic(m.getModifiers()) || m.getParameterTypes().length != 1) continue;
            if (m.getName().startsWith("set") && m.getName().length() > 3) props.add(m.getName().substring(3));
        }
        boolean first = true;
        for (String p : props) {
            for (String g : new String[] {"get" + p, "is" + p}) {
                try {
                    Method gm = o.getClass().getMethod(g);
                    String v = value(gm.invoke(o));
                    if (v != null) {
                        out.append(first ? "" : ",").append(q(Character.toLowerCase(p.charAt(0)) + p.substring(1)))
                            .append(":").append(v);
                        first = false;
                    }
                    break;
                } catch (NoSuchMethodException e) {
                    // next form
                } catch (Throwable t) {
                    break;
                }
            }
        }
        return out.append("}}").toString();
    }

    public static void main(String[] args) throws Exception {
        String prefix = args.length > 1 ? args[1] : "Server/Service/Engine/";
        Digester d = new Digester();
        d.setValidating(false);
        d.setRulesValidation(true);
        Map<Class<?>, List<String>> fake = new HashMap<>();
        List<String> attrs = new ArrayList<>();
        attrs.add("className");
        fake.put(Object.class, attrs);
        d.setFakeAttributes(fake);
        List<Object> found = new ArrayList<>();
        d.push(found);
        d.addObjectCreate(prefix + "Cluster", null, "className");
        d.addSetProperties(prefix + "Cluster");
        d.addSetNext(prefix + "Cluster", "add", "java.lang.Object");
        d.addRuleSet(new ClusterRuleSet(prefix + "Cluster/"));
        d.parse(new File(args[0]));

        SimpleTcpCluster cluster = (SimpleTcpCluster) found.get(0);
        StringBuilder out = new StringBuilder("{\"Cluster\":").append(describe(cluster));
        out.append(",\n\"Manager\":").append(describe(cluster.getManagerTemplate()));
        GroupChannel channel = (GroupChannel) cluster.getChannel();
        out.append(",\n\"Channel\":").append(describe(channel));
        out.append(",\n\"Membership\":").append(describe(channel.getMembershipService()));
        ReplicationTransmitter sender = (ReplicationTransmitter) channel.getChannelSender();
        out.append(",\n\"Sender\":").append(describe(sender));
        out.append(",\n\"Transport\":").append(describe(sender.getTransport()));
        out.append(",\n\"Receiver\":").append(describe(channel.getChannelReceiver()));
        out.append(",\n\"Interceptor\":[");
        Iterator<ChannelInterceptor> it = channel.getInterceptors();
        boolean first = true;
        while (it.hasNext()) {
            out.append(first ? "" : ",").append(describe(it.next()));
            first = false;
        }
        out.append("],\n\"Valve\":[");
        first = true;
        for (Object v : cluster.getValves()) {
            out.append(first ? "" : ",").append(describe(v));
            first = false;
        }
        out.append("],\n\"Deployer\":").append(describe(cluster.getClusterDeployer()));
        out.append(",\n\"ClusterListener\":[");
        first = true;
        for (ClusterListener l : cluster.findClusterListeners()) {
            out.append(first ? "" : ",").append(describe(l));
            first = false;
        }
        out.append("]}");
        System.out.println(out);
    }
}
