// Dumps, for each class named on the command line (or the built-in list), every property that
// Tomcat's digester (IntrospectionUtils.setProperty) can set from a server.xml attribute, with the
// setter's parameter type(s) and the value the matching getter returns on a fresh instance
// (Tomcat's default). Output: one JSON object on stdout. Used to generate and check
// tribes/config/_tomcat_specs.py (tests/interop/test_config_specs.py).
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

public class ConfigAttributesDump {
    static final String[] CLASSES = {
        "org.apache.catalina.ha.tcp.SimpleTcpCluster",
        "org.apache.catalina.ha.session.DeltaManager",
        "org.apache.catalina.ha.session.BackupManager",
        "org.apache.catalina.util.StandardSessionIdGenerator",
        "org.apache.catalina.tribes.group.GroupChannel",
        "org.apache.catalina.tribes.membership.McastService",
        "org.apache.catalina.tribes.membership.StaticMembershipService",
        "org.apache.catalina.tribes.membership.cloud.CloudMembershipService",
        "org.apache.catalina.tribes.membership.StaticMember",
        "org.apache.catalina.tribes.transport.ReplicationTransmitter",
        "org.apache.catalina.tribes.transport.nio.PooledParallelSender",
        "org.apache.catalina.tribes.transport.nio.ParallelNioSender",
        "org.apache.catalina.tribes.transport.bio.PooledMultiSender",
        "org.apache.catalina.tribes.transport.bio.MultipointBioSender",
        "org.apache.catalina.tribes.transport.nio.NioReceiver",
        "org.apache.catalina.tribes.transport.bio.BioReceiver",
        "org.apache.catalina.tribes.group.interceptors.DomainFilterInterceptor",
        "org.apache.catalina.tribes.group.interceptors.EncryptInterceptor",
        "org.apache.catalina.tribes.group.interceptors.FragmentationInterceptor",
        "org.apache.catalina.tribes.group.interceptors.GzipInterceptor",
        "org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor",
        "org.apache.catalina.tribes.group.interceptors.NonBlockingCoordinator",
        "org.apache.catalina.tribes.group.interceptors.OrderInterceptor",
        "org.apache.catalina.tribes.group.interceptors.SimpleCoordinator",
        "org.apache.catalina.tribes.group.interceptors.StaticMembershipInterceptor",
        "org.apache.catalina.tribes.group.interceptors.TcpFailureDetector",
        "org.apache.catalina.tribes.group.interceptors.TcpPingInterceptor",
        "org.apache.catalina.tribes.group.interceptors.ThroughputInterceptor",
        "org.apache.catalina.tribes.group.interceptors.TwoPhaseCommitInterceptor",
        "org.apache.catalina.ha.tcp.ReplicationValve",
        "org.apache.catalina.ha.session.JvmRouteBinderValve",
        "org.apache.catalina.ha.deploy.FarmWarDeployer",
        "org.apache.catalina.ha.session.ClusterSessionListener",
    };

    static String kind(Class<?> t) {
        switch (t.getName()) {
            case "java.lang.String": return "string";
            case "int": case "java.lang.Integer": return "int";
            case "long": case "java.lang.Long": return "long";
            case "boolean": case "java.lang.Boolean": return "boolean";
            case "java.net.InetAddress": return "inetaddress";
            default: return "unsupported:" + t.getName();
        }
    }

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
        if (v instanceof Boolean || v instanceof Integer || v instanceof Long || v instanceof Short
                || v instanceof Byte) return v.toString();
        if (v instanceof Double || v instanceof Float) return v.toString();
        if (v instanceof InetAddress) return q(((InetAddress) v).getHostAddress());
        if (v instanceof byte[]) return q("bytes:" + Arrays.toString((byte[]) v));
        return q("object:" + v.getClass().getName());
    }

    static void collectTypes(Class<?> c, List<String> out) {
        for (Class<?> k = c; k != null; k = k.getSuperclass()) {
            if (!out.contains(k.getName())) out.add(k.getName());
            for (Class<?> i : k.getInterfaces()) collectInterfaces(i, out);
        }
    }

    static void collectInterfaces(Class<?> i, List<String> out) {
        if (!out.contains(i.getName())) out.add(i.getName());
        for (Class<?> j : i.getInterfaces()) collectInterfaces(j, out);
    }

    public static void main(String[] args) throws Exception {
        String[] names = args.length > 0 ? args : CLASSES;
        StringBuilder out = new StringBuilder("{");
        boolean firstClass = true;
        for (String name : names) {
            if (!firstClass) out.append(",");
            firstClass = false;
            out.append("\n").append(q(name)).append(":");
            Class<?> c;
            try {
                c = Class.forName(name);
            } catch (ClassNotFoundException e) {
                out.append("null");
                continue;
            }
            Object o = null;
            try {
                o = c.getConstructor().newInstance();
            } catch (Throwable t) {
                // keep going: types without defaults
            }
            Map<String, List<String>> setters = new TreeMap<>();
            boolean fallback = false;
            for (Method m : c.getMethods()) {
                if (Modifier.isStatic(m.getModifiers())) continue;
                if (m.getName().equals("setProperty")) { fallback = true; continue; }
                if (!m.getName().startsWith("set") || m.getName().length() < 4) continue;
                if (m.getParameterTypes().length != 1) continue;
                String prop = Character.toLowerCase(m.getName().charAt(3)) + m.getName().substring(4);
                setters.computeIfAbsent(prop, k -> new ArrayList<>()).add(kind(m.getParameterTypes()[0]));
            }
            List<String> types = new ArrayList<>();
            collectTypes(c, types);
            out.append("{\"types\":[");
            for (int i = 0; i < types.size(); i++) out.append(i > 0 ? "," : "").append(q(types.get(i)));
            out.append("],\"setProperty\":").append(fallback).append(",\"attributes\":{");
            boolean first = true;
            for (Map.Entry<String, List<String>> e : setters.entrySet()) {
                String prop = e.getKey();
                List<String> kinds = e.getValue();
                java.util.Collections.sort(kinds);
                String def = "null";
                boolean hasGetter = false;
                String cap = Character.toUpperCase(prop.charAt(0)) + prop.substring(1);
                if (o != null) {
                    for (String g : new String[] {"get" + cap, "is" + cap}) {
                        try {
                            Method gm = c.getMethod(g);
                            hasGetter = true;
                            def = value(gm.invoke(o));
                            break;
                        } catch (NoSuchMethodException ex) {
                            // try the next form
                        } catch (Throwable t) {
                            hasGetter = true;
                            def = q("error:" + (t.getCause() != null ? t.getCause() : t).getClass().getName());
                            break;
                        }
                    }
                }
                out.append(first ? "" : ",").append("\n  ").append(q(prop)).append(":{\"setters\":[");
                for (int i = 0; i < kinds.size(); i++) out.append(i > 0 ? "," : "").append(q(kinds.get(i)));
                out.append("],\"getter\":").append(hasGetter).append(",\"default\":").append(def).append("}");
                first = false;
            }
            out.append("}}");
        }
        out.append("\n}");
        System.out.println(out);
    }
}
