import java.io.*;
import java.lang.reflect.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.security.Principal;
import java.util.*;

import org.apache.catalina.SessionListener;
import org.apache.catalina.SessionEvent;
import org.apache.catalina.Session;
import org.apache.catalina.core.StandardContext;
import org.apache.catalina.ha.session.DeltaManager;
import org.apache.catalina.ha.session.DeltaRequest;
import org.apache.catalina.ha.session.DeltaSession;
import org.apache.catalina.ha.session.ReplicatedSessionListener;
import org.apache.catalina.ha.session.SessionMessage;
import org.apache.catalina.ha.session.SessionMessageImpl;
import org.apache.catalina.realm.GenericPrincipal;

/**
 * Golden Java-serialization streams for tribes.javaser (tests/vectors/javaser/), made by the real
 * java.io.ObjectOutputStream and real Tomcat classes, plus a reader and a timer.
 *
 * gen DIR              write every vector as DIR/NAME.ser and DIR/manifest.json (run the JVM with
 *                      -XX:-StackTraceInThrowable so exception vectors do not hold line numbers)
 * read FILE            read every top-level object of FILE with ObjectInputStream, print one JSON
 *                      rendering per line ("ABORTED class" for TC_EXCEPTION, "EOF" at the end)
 * session FILE         read FILE as a DeltaManager session-state stream (layout of DeltaSession) and
 *                      print the script of reads (JSON)
 * delta FILE           read FILE with Tomcat's DeltaRequest.readExternal and execute it on a fresh
 *                      DeltaSession; print the resulting attributes (JSON)
 * bench MILLIS FILE... time Java's OIS (decode) and OOS (encode) on session-state streams; one
 *                      JSON line per file: {"file", "bytes", "decode_ns", "encode_ns"}
 * sessions DIR         write session-state streams of about 1, 10, 100 KiB for the benchmark
 *
 * The JSON rendering is the "summary" format of tests/unit/javaser_summary.py.
 */
public class JavaSerVectors {

    // ------------------------------------------------------------------ custom classes

    public static class Point implements Serializable {
        private static final long serialVersionUID = 1L;
        int x;
        int y;
        String label;
        Point(int x, int y, String label) { this.x = x; this.y = y; this.label = label; }
    }

    /** No serialVersionUID: computed. */
    public static class Computed implements Serializable {
        long stamp = 123456789012345L;
        double ratio = 0.5;
        char letter = 'Z';
        boolean flag = true;
        byte b = -7;
        short s = -300;
        float f = 1.25f;
        Object any = "text";
        int[] ints = {1, 2, 3};
    }

    public static class WithWriteObject implements Serializable {
        private static final long serialVersionUID = 7L;
        int a = 5;
        String name = "custom";
        transient String secret = "not written";

        private void writeObject(ObjectOutputStream out) throws IOException {
            out.defaultWriteObject();
            out.writeInt(42);
            out.writeUTF("extra");
            out.writeObject(new ArrayList<>(List.of("x", "y")));
            out.writeLong(-1L);
        }

        private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
            in.defaultReadObject();
            if (in.readInt() != 42 || !"extra".equals(in.readUTF())) throw new InvalidObjectException("bad");
            in.readObject();
            in.readLong();
        }
    }

    /** writeObject that writes lots of block data (chunked in 1024-byte records). */
    public static class BigCustom implements Serializable {
        private static final long serialVersionUID = 3L;
        transient byte[] blob;
        BigCustom(int n) { blob = new byte[n]; for (int i = 0; i < n; i++) blob[i] = (byte) (i * 7); }

        private void writeObject(ObjectOutputStream out) throws IOException {
            out.defaultWriteObject();
            out.writeInt(blob.length);
            out.write(blob);
            out.writeObject("after");
            out.writeUTF("tail");
        }

        private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
            in.defaultReadObject();
            blob = new byte[in.readInt()];
            in.readFully(blob);
            in.readObject();
            in.readUTF();
        }
    }

    public static class Parent implements Serializable {
        private static final long serialVersionUID = 11L;
        String family = "base";
        int level = 1;

        private void writeObject(ObjectOutputStream out) throws IOException {
            out.defaultWriteObject();
            out.writeShort(77);
        }

        private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
            in.defaultReadObject();
            in.readShort();
        }
    }

    public static class Child extends Parent {
        private static final long serialVersionUID = 12L;
        String own = "child";
        Parent sibling;
    }

    public static class NotSerializableBase {
        int hidden = 9;
        public NotSerializableBase() { }
    }

    public static class SerializableSub extends NotSerializableBase implements Serializable {
        private static final long serialVersionUID = 13L;
        String visible = "yes";
    }

    public static class Ext implements Externalizable {
        private static final long serialVersionUID = 21L;
        int n;
        String s;
        Object o;
        public Ext() { }
        Ext(int n, String s, Object o) { this.n = n; this.s = s; this.o = o; }

        @Override
        public void writeExternal(ObjectOutput out) throws IOException {
            out.writeInt(n);
            out.writeUTF(s);
            out.writeObject(o);
            out.writeBoolean(true);
        }

        @Override
        public void readExternal(ObjectInput in) throws IOException, ClassNotFoundException {
            n = in.readInt();
            s = in.readUTF();
            o = in.readObject();
            in.readBoolean();
        }
    }

    public enum Color { RED, GREEN, BLUE { @Override public String toString() { return "blue!"; } } }

    public static class Node implements Serializable {
        private static final long serialVersionUID = 31L;
        String value;
        Node next;
        Node(String v) { value = v; }
    }

    public record Pair(String left, int right) implements Serializable { }

    public interface Greeter { String greet(); }

    public static class Handler implements InvocationHandler, Serializable {
        private static final long serialVersionUID = 41L;
        String word = "hello";
        @Override
        public Object invoke(Object proxy, Method m, Object[] args) { return word; }
    }

    public static class NotSer {
        int x = 1;
    }

    public static class VecListener implements ReplicatedSessionListener {
        private static final long serialVersionUID = 51L;
        String tag = "listener";
        @Override
        public void sessionEvent(SessionEvent event) { }
    }

    public static class VecManager extends DeltaManager {
        public byte[] ser(Session[] sessions) throws IOException { return serializeSessions(sessions); }
        public byte[] serId(String id) throws IOException { return serializeSessionId(id); }
    }

    // ------------------------------------------------------------------ JSON rendering ("summary")

    static final long SAFE = 1L << 53;

    static String q(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') sb.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) sb.append(String.format("\\u%04x", (int) c));
            else sb.append(c);
        }
        return sb.append('"').toString();
    }

    static String num(long v) { return (v > SAFE || v < -SAFE) ? q(Long.toString(v)) : Long.toString(v); }

    static String num(double v) {
        if (Double.isNaN(v)) return q("NaN");
        if (Double.isInfinite(v)) return q(v > 0 ? "Infinity" : "-Infinity");
        return Double.toString(v);
    }

    static String prim(Object v) {
        if (v instanceof Boolean) return v.toString();
        if (v instanceof Character) return q(v.toString());
        if (v instanceof Float || v instanceof Double) return num(((Number) v).doubleValue());
        return num(((Number) v).longValue());
    }

    static String obj(String cls, String key, String value) {
        return "{\"class\":" + q(cls) + ",\"" + key + "\":" + value + "}";
    }

    static String render(Object o) { return render(o, new IdentityHashMap<>()); }

    static String render(Object o, IdentityHashMap<Object, Boolean> path) {
        if (o == null) return "null";
        Class<?> c = o.getClass();
        if (o instanceof String) return obj("java.lang.String", "value", q((String) o));
        if (c == Integer.class || c == Long.class || c == Short.class || c == Byte.class || c == Float.class
                || c == Double.class || c == Character.class || c == Boolean.class) {
            return obj(c.getName(), "value", prim(o));
        }
        if (o instanceof byte[]) return obj("[B", "value", q(Base64.getEncoder().encodeToString((byte[]) o)));
        if (o instanceof Enum) return obj(((Enum<?>) o).getDeclaringClass().getName(), "value", q(((Enum<?>) o).name()));
        if (o instanceof Class) return obj("java.lang.Class", "value", q(((Class<?>) o).getName()));
        if (c == java.util.Date.class) return obj("java.util.Date", "millis", num(((java.util.Date) o).getTime()));
        if (o instanceof Throwable) {
            String m = ((Throwable) o).getMessage();
            return obj(c.getName(), "message", m == null ? "null" : q(m));
        }
        if (o instanceof ObjectStreamClass) return obj("java.io.ObjectStreamClass", "value", q(((ObjectStreamClass) o).getName()));
        if (!c.isArray() && !(o instanceof Collection) && !(o instanceof Map) || c.getName().startsWith("java.util.Immutable")) {
            for (Class<?> k = c; k != null; k = k.getSuperclass()) {
                Method wr;
                try {
                    wr = k.getDeclaredMethod("writeReplace");
                } catch (NoSuchMethodException e) {
                    continue;
                }
                try {
                    wr.setAccessible(true);
                    Object rep = wr.invoke(o);
                    if (rep != o) return render(rep, path);
                } catch (Exception e) {
                    return obj("(replaced)", "opaque", "true");
                }
                break;
            }
        }
        if (path.containsKey(o)) return obj(c.getName(), "cycle", "true");
        path.put(o, true);
        try {
            StringBuilder sb = new StringBuilder();
            if (c.isArray()) {
                int n = Array.getLength(o);
                sb.append('[');
                for (int i = 0; i < n; i++) {
                    if (i > 0) sb.append(',');
                    Object e = Array.get(o, i);
                    sb.append(c.getComponentType().isPrimitive() ? prim(e) : render(e, path));
                }
                return obj(c.getName(), "value", sb.append(']').toString());
            }
            if (c == ArrayList.class || c == LinkedList.class || c == HashSet.class) {
                sb.append('[');
                boolean first = true;
                for (Object e : (Collection<?>) o) {
                    if (!first) sb.append(',');
                    first = false;
                    sb.append(render(e, path));
                }
                return obj(c.getName(), "value", sb.append(']').toString());
            }
            if (c == HashMap.class || c == LinkedHashMap.class || c == TreeMap.class) {
                sb.append('[');
                boolean first = true;
                for (Map.Entry<?, ?> e : ((Map<?, ?>) o).entrySet()) {
                    if (!first) sb.append(',');
                    first = false;
                    sb.append('[').append(render(e.getKey(), path)).append(',').append(render(e.getValue(), path)).append(']');
                }
                return obj(c.getName(), "value", sb.append(']').toString());
            }
            if (Proxy.isProxyClass(c)) return obj("(proxy)", "opaque", "true");
            if (o instanceof Externalizable) return obj(c.getName(), "externalizable", "true");
            // serializable fields of each class, topmost first
            List<Class<?>> chain = new ArrayList<>();
            for (Class<?> k = c; k != null && Serializable.class.isAssignableFrom(k); k = k.getSuperclass()) chain.add(0, k);
            LinkedHashMap<String, String> fields = new LinkedHashMap<>();
            for (Class<?> k : chain) {
                ObjectStreamClass d = ObjectStreamClass.lookup(k);
                if (d == null) continue;
                for (ObjectStreamField f : d.getFields()) {
                    Field rf;
                    try {
                        rf = k.getDeclaredField(f.getName());
                        rf.setAccessible(true);
                    } catch (Exception e) {
                        if (k.isRecord()) {
                            try {
                                Method acc = k.getDeclaredMethod(f.getName());
                                acc.setAccessible(true);
                                Object v = acc.invoke(o);
                                fields.put(f.getName(), f.isPrimitive() ? prim(v) : render(v, path));
                                continue;
                            } catch (Exception e2) {
                                return obj(c.getName(), "opaque", "true");
                            }
                        }
                        return obj(c.getName(), "opaque", "true");
                    }
                    Object v = rf.get(o);
                    fields.put(f.getName(), f.isPrimitive() ? prim(v) : render(v, path));
                }
            }
            sb.append('{');
            boolean first = true;
            for (Map.Entry<String, String> e : fields.entrySet()) {
                if (!first) sb.append(',');
                first = false;
                sb.append(q(e.getKey())).append(':').append(e.getValue());
            }
            return obj(c.getName(), "fields", sb.append('}').toString());
        } catch (IllegalAccessException | RuntimeException e) {
            return obj(c.getName(), "opaque", "true");
        } finally {
            path.remove(o);
        }
    }

    // ------------------------------------------------------------------ vectors

    static final class Vec {
        final String name;
        final byte[] data;
        final String expect; // JSON
        Vec(String name, byte[] data, String expect) { this.name = name; this.data = data; this.expect = expect; }
    }

    static final List<Vec> VECS = new ArrayList<>();

    static void v(String name, Object o) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        ObjectOutputStream oos = new ObjectOutputStream(bos);
        oos.writeObject(o);
        oos.close();
        VECS.add(new Vec(name, bos.toByteArray(), "{\"kind\":\"object\",\"value\":" + render(o) + "}"));
    }

    /** A stream of interleaved writes; the expected script is what Java's OIS reads back. */
    static final class Seq {
        final ByteArrayOutputStream bos = new ByteArrayOutputStream();
        final ObjectOutputStream oos;
        final List<String> ops = new ArrayList<>();
        Seq() throws IOException { oos = new ObjectOutputStream(bos); }
        Seq o(Object x) throws IOException { oos.writeObject(x); ops.add("obj"); return this; }
        Seq i(int x) throws IOException { oos.writeInt(x); ops.add("int"); return this; }
        Seq l(long x) throws IOException { oos.writeLong(x); ops.add("long"); return this; }
        Seq z(boolean x) throws IOException { oos.writeBoolean(x); ops.add("bool"); return this; }
        Seq b(int x) throws IOException { oos.writeByte(x); ops.add("byte"); return this; }
        Seq s(int x) throws IOException { oos.writeShort(x); ops.add("short"); return this; }
        Seq c(char x) throws IOException { oos.writeChar(x); ops.add("char"); return this; }
        Seq f(float x) throws IOException { oos.writeFloat(x); ops.add("float"); return this; }
        Seq d(double x) throws IOException { oos.writeDouble(x); ops.add("double"); return this; }
        Seq u(String x) throws IOException { oos.writeUTF(x); ops.add("utf"); return this; }
        Seq raw(byte[] x) throws IOException { oos.write(x); ops.add("bytes:" + x.length); return this; }
        Seq reset() throws IOException { oos.reset(); return this; }
        Seq flush() throws IOException { oos.flush(); return this; }
        Seq failing(Object x) throws IOException {
            try { oos.writeObject(x); } catch (NotSerializableException e) { ops.add("obj"); }
            return this;
        }
        void done(String name) throws IOException {
            oos.close();
            byte[] data = bos.toByteArray();
            VECS.add(new Vec(name, data, "{\"kind\":\"script\",\"script\":" + script(data, ops) + "}"));
        }
    }

    static String script(byte[] data, List<String> ops) throws IOException {
        ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(data));
        StringBuilder sb = new StringBuilder("[");
        boolean first = true;
        for (String op : ops) {
            if (!first) sb.append(',');
            first = false;
            sb.append(readOp(in, op));
        }
        return sb.append(']').toString();
    }

    static String readOp(ObjectInputStream in, String op) throws IOException {
        switch (op) {
            case "int": return "[\"int\"," + in.readInt() + "]";
            case "long": return "[\"long\"," + num(in.readLong()) + "]";
            case "bool": return "[\"bool\"," + in.readBoolean() + "]";
            case "byte": return "[\"byte\"," + in.readByte() + "]";
            case "short": return "[\"short\"," + in.readShort() + "]";
            case "char": return "[\"char\"," + q(String.valueOf(in.readChar())) + "]";
            case "float": return "[\"float\"," + num(in.readFloat()) + "]";
            case "double": return "[\"double\"," + num(in.readDouble()) + "]";
            case "utf": return "[\"utf\"," + q(in.readUTF()) + "]";
            case "obj":
                try {
                    return "[\"obj\"," + render(in.readObject()) + "]";
                } catch (WriteAbortedException e) {
                    return "[\"aborted\"," + q(e.detail.getClass().getName()) + "]";
                } catch (ClassNotFoundException e) {
                    throw new IOException(e);
                }
            default:
                if (op.startsWith("bytes:")) {
                    byte[] b = new byte[Integer.parseInt(op.substring(6))];
                    in.readFully(b);
                    return "[\"bytes\"," + q(Base64.getEncoder().encodeToString(b)) + "]";
                }
                throw new IllegalArgumentException(op);
        }
    }

    static String str(int n, char c) { char[] a = new char[n]; Arrays.fill(a, c); return new String(a); }

    @SuppressWarnings({"deprecation", "removal"})
    static void buildPlain() throws Exception {
        v("null", null);
        v("string_empty", "");
        v("string_ascii", "hello world");
        v("string_nul", "a\u0000b");
        v("string_latin1", "caf\u00e9 \u00ff");
        v("string_bmp", "\u20ac\u4e2d\uffff");
        v("string_nonbmp", "\ud83d\ude00 smile \ud800\udc00");
        v("string_lone_surrogate", "x\ud800y");
        v("string_65535", str(65535, 'a'));
        v("string_long_ascii", str(70000, 'b'));
        v("string_long_3byte", str(30000, '\u20ac'));
        v("integer_0", Integer.valueOf(0));
        v("integer_min", Integer.MIN_VALUE);
        v("integer_max", Integer.MAX_VALUE);
        v("long_neg", -5L);
        v("long_max", Long.MAX_VALUE);
        v("long_min", Long.MIN_VALUE);
        v("long_2p53", (1L << 53) + 1);
        v("short", (short) -12345);
        v("byte", (byte) -128);
        v("float", 3.14f);
        v("float_nan", Float.NaN);
        v("float_inf", Float.NEGATIVE_INFINITY);
        v("double", Math.PI);
        v("double_nan", Double.NaN);
        v("double_negzero", -0.0d);
        v("double_min", Double.MIN_VALUE);
        v("char", 'q');
        v("char_euro", '\u20ac');
        v("boolean_true", Boolean.TRUE);
        v("boolean_false", Boolean.FALSE);
        v("bytes_empty", new byte[0]);
        v("bytes", new byte[] {0, 1, -1, 127, -128});
        byte[] big = new byte[100000];
        new Random(1).nextBytes(big);
        v("bytes_100k", big);
        v("int_array", new int[] {1, -1, Integer.MAX_VALUE});
        v("long_array", new long[] {Long.MIN_VALUE, 0, 1L << 60});
        v("short_array", new short[] {-1, 2});
        v("char_array", new char[] {'a', '\u20ac', '\u0000'});
        v("boolean_array", new boolean[] {true, false, true});
        v("float_array", new float[] {1.5f, -0.0f, Float.NaN});
        v("double_array", new double[] {2.5, Double.POSITIVE_INFINITY});
        v("string_array", new String[] {"a", null, "a"});
        v("object_array", new Object[] {1, "two", 3L, null, new int[] {4}});
        v("int_2d_array", new int[][] {{1, 2}, {3}, {}});
        v("empty_object_array", new Object[0]);
        v("arraylist_empty", new ArrayList<>());
        v("arraylist", new ArrayList<>(List.of("a", "b", "c")));
        v("arraylist_mixed", new ArrayList<>(Arrays.asList(1, 2L, 3.0, "4", null, true, 'c', (short) 5, (byte) 6, 7.5f)));
        ArrayList<Object> ints = new ArrayList<>();
        for (int i = -200; i < 200; i += 3) ints.add(i);
        v("arraylist_int_cache", ints);
        ArrayList<Object> strs = new ArrayList<>();
        String shared = new String("shared");
        strs.add(shared); strs.add(shared); strs.add(new String("shared")); strs.add("lit"); strs.add("lit");
        v("arraylist_shared_strings", strs);
        v("linkedlist", new LinkedList<>(List.of(1, "x", 2.5)));
        v("linkedlist_empty", new LinkedList<>());
        v("hashmap_empty", new HashMap<>());
        HashMap<Object, Object> hm = new HashMap<>();
        hm.put("b", 2); hm.put("a", 1); hm.put("zeta", null); hm.put(7, "seven"); hm.put(7L, "seven long");
        v("hashmap", hm);
        HashMap<String, Integer> hm13 = new HashMap<>();
        for (int i = 0; i < 13; i++) hm13.put("k" + i, i);
        v("hashmap_13_resized", hm13);
        HashMap<String, Integer> hm100 = new HashMap<>();
        for (int i = 0; i < 100; i++) hm100.put("key-" + i, i * 1000);
        v("hashmap_100", hm100);
        HashMap<String, String> presized = new HashMap<>(1000);
        presized.put("only", "one");
        v("hashmap_presized", presized);
        LinkedHashMap<String, Object> lhm = new LinkedHashMap<>();
        lhm.put("z", 1); lhm.put("a", 2); lhm.put("m", List.of());
        v("linkedhashmap", lhm);
        LinkedHashMap<String, Object> lhmSimple = new LinkedHashMap<>();
        for (int i = 20; i > 0; i--) lhmSimple.put("key" + i, i);
        v("linkedhashmap_simple", lhmSimple);
        LinkedHashMap<String, Object> lhmAccess = new LinkedHashMap<>(16, 0.75f, true);
        lhmAccess.put("one", 1); lhmAccess.put("two", 2); lhmAccess.get("one");
        v("linkedhashmap_access_order", lhmAccess);
        TreeMap<String, Integer> tm = new TreeMap<>();
        tm.put("pear", 1); tm.put("apple", 2); tm.put("\u00e9clair", 3); tm.put("Zebra", 4); tm.put("\ud83d\ude00", 5); tm.put("\uffff", 6);
        v("treemap", tm);
        TreeMap<Integer, String> tmi = new TreeMap<>();
        tmi.put(10, "ten"); tmi.put(-3, "minus"); tmi.put(7, "seven");
        v("treemap_int", tmi);
        TreeMap<String, String> tmc = new TreeMap<>(Collections.reverseOrder());
        tmc.put("a", "1"); tmc.put("b", "2");
        v("treemap_comparator", tmc);
        v("hashset_empty", new HashSet<>());
        HashSet<Object> hs = new HashSet<>();
        hs.add("x"); hs.add("y"); hs.add(42); hs.add(true);
        v("hashset", hs);
        HashSet<String> hs50 = new HashSet<>();
        for (int i = 0; i < 50; i++) hs50.add("element" + i);
        v("hashset_50", hs50);
        v("hashset_from_collection", new HashSet<>(List.of("a", "b", "c")));
        v("date", new java.util.Date(1700000000123L));
        v("date_negative", new java.util.Date(-1000L));
        v("enum", Color.GREEN);
        v("enum_with_body", Color.BLUE);
        v("enum_list", new ArrayList<>(List.of(Color.RED, Color.BLUE, Color.RED)));
        v("enum_array", new Color[] {Color.GREEN, Color.GREEN});
        v("class_string", String.class);
        v("class_custom", Point.class);
        v("class_array", int[].class);
        v("class_enum", Color.class);
        v("objectstreamclass", ObjectStreamClass.lookup(Point.class));
        v("point", new Point(3, -4, "p"));
        v("point_null_label", new Point(0, 0, null));
        v("computed_suid", new Computed());
        v("with_write_object", new WithWriteObject());
        v("big_custom_5000", new BigCustom(5000));
        v("big_custom_1024", new BigCustom(1020));
        Child ch = new Child();
        ch.sibling = new Parent();
        v("child_parent_chain", ch);
        Child ch2 = new Child();
        ch2.sibling = ch2;
        v("child_self_reference", ch2);
        v("nonserializable_base", new SerializableSub());
        v("externalizable", new Ext(5, "ext", List.of(1, 2)));
        v("externalizable_nested", new Ext(6, "outer", new Ext(7, "inner", null)));
        v("record", new Pair("left", 9));
        Node a = new Node("a"); Node b = new Node("b"); Node c = new Node("c");
        a.next = b; b.next = c; c.next = a;
        v("cycle_nodes", a);
        Node chain = null;
        for (int i = 0; i < 200; i++) { Node n = new Node("n" + i); n.next = chain; chain = n; }
        v("deep_chain_200", chain);
        ArrayList<Object> selfList = new ArrayList<>();
        selfList.add(selfList); selfList.add("after");
        v("self_list", selfList);
        HashMap<String, Object> selfMap = new HashMap<>();
        selfMap.put("me", selfMap);
        v("self_map", selfMap);
        Point sharedPoint = new Point(1, 1, "shared");
        v("shared_objects", new ArrayList<>(List.of(sharedPoint, sharedPoint, new Point(1, 1, "shared"))));
        HashMap<String, Object> nested = new HashMap<>();
        nested.put("list", new ArrayList<>(List.of(new HashMap<>(Map.of("k", new LinkedList<>(List.of(1, 2)))))));
        nested.put("set", new HashSet<>(List.of(new TreeMap<>(Map.of("t", 1)))));
        nested.put("arr", new Object[] {new Date(5), Color.RED, new byte[] {1}});
        v("nested_collections", nested);
        v("proxy", Proxy.newProxyInstance(JavaSerVectors.class.getClassLoader(), new Class<?>[] {Greeter.class, Serializable.class}, new Handler()));
        v("exception_object", new IllegalStateException("boom"));
        v("exception_with_cause", new IOException("outer", new RuntimeException("inner")));
        v("biginteger", new java.math.BigInteger("123456789012345678901234567890"));
        v("bigdecimal", new java.math.BigDecimal("3.14159"));
        v("atomic_integer", new java.util.concurrent.atomic.AtomicInteger(17));
        v("hashtable", new Hashtable<>(Map.of("h", 1)));
        v("vector", new Vector<>(List.of("v")));
        v("uuid", new UUID(0x0123456789abcdefL, 0xfedcba9876543210L));
        v("string_builder", new StringBuilder("sb"));
        v("concurrent_hashmap", new java.util.concurrent.ConcurrentHashMap<>(Map.of("c", 1)));
        v("arrays_aslist", Arrays.asList("x", "y"));
        v("collections_emptylist", Collections.emptyList());
        v("list_of", List.of(1, 2, 3));
        v("map_of", Map.of("k", "v"));
        v("locale", Locale.US);
        v("url", new java.net.URL("http://example.com/x"));
        v("enummap", new EnumMap<>(Map.of(Color.RED, 1)));
        v("bitset", BitSet.valueOf(new long[] {0x5555}));
        v("optional_data_array_of_lists", new Object[] {new ArrayList<>(), new LinkedList<>(), new HashSet<>()});

        // sequences
        new Seq().i(1).i(2).u("three").z(true).b(-1).s(-2).c('\u20ac').f(1.5f).d(-2.25).l(Long.MIN_VALUE).done("seq_primitives");
        new Seq().u("before").o("object").u("after").o(5).i(7).done("seq_interleaved");
        byte[] blk = new byte[3000];
        for (int i = 0; i < blk.length; i++) blk[i] = (byte) i;
        new Seq().raw(blk).o("x").raw(new byte[1024]).i(1).done("seq_block_chunking");
        new Seq().i(1).flush().i(2).o(null).done("seq_flush");
        new Seq().u(str(65535, 'u')).done("seq_utf_max");
        new Seq().u(str(2000, '\u20ac')).u("\u0000\ud83d\ude00").done("seq_utf_multibyte");
        String r = new String("reset me");
        new Seq().o(r).o(r).reset().o(r).o(Color.RED).reset().o(Color.RED).done("seq_reset");
        ArrayList<Object> bad = new ArrayList<>();
        bad.add("ok"); bad.add(new NotSer());
        new Seq().o("first").failing(bad).o("second").i(5).done("seq_exception");
        new Seq().failing(new NotSer()).o("after").done("seq_exception_top");
        new Seq().o(new String("s")).o(Integer.valueOf(5)).o(Integer.valueOf(5)).o(Integer.valueOf(500)).o(Integer.valueOf(500)).o(Boolean.TRUE).o(Boolean.TRUE).o(Long.valueOf(0)).o(Long.valueOf(0)).done("seq_boxing_cache");
    }

    // ------------------------------------------------------------------ Tomcat streams

    static StandardContext context;
    static VecManager manager;

    static void setupTomcat() throws Exception {
        context = new StandardContext();
        context.setName("/app");
        context.setPath("/app");
        context.setDistributable(true);
        manager = new VecManager();
        manager.setContext(context);
        try {
            Method m = manager.getClass().getMethod("setPersistAuthenticationNotes", boolean.class);
            m.invoke(manager, true);
        } catch (NoSuchMethodException e) {
            // 10.1+: notes are always written
        }
    }

    static GenericPrincipal principal(String name, String... roles) {
        return new GenericPrincipal(name, "secret", Arrays.asList(roles));
    }

    static DeltaSession session(String id, int attrs) {
        DeltaSession s = new DeltaSession(manager);
        s.setValid(true);
        s.setNew(true);
        s.setCreationTime(1700000000000L);
        s.setMaxInactiveInterval(1800);
        s.setId(id, false);
        for (int i = 0; i < attrs; i++) s.setAttribute("attr" + i, "value-" + i, false, false);
        return s;
    }

    static void buildTomcat() throws Exception {
        setupTomcat();
        // SessionMessageImpl, every event type
        int[] events = {SessionMessage.EVT_SESSION_CREATED, SessionMessage.EVT_SESSION_EXPIRED, SessionMessage.EVT_SESSION_ACCESSED,
            SessionMessage.EVT_GET_ALL_SESSIONS, SessionMessage.EVT_ALL_SESSION_DATA, SessionMessage.EVT_SESSION_DELTA,
            SessionMessage.EVT_ALL_SESSION_TRANSFERCOMPLETE, SessionMessage.EVT_CHANGE_SESSION_ID,
            SessionMessage.EVT_ALL_SESSION_NOCONTEXTMANAGER};
        for (int evt : events) {
            byte[] payload = null;
            String sid = "ABCDEF0123456789.node1";
            if (evt == SessionMessage.EVT_ALL_SESSION_DATA) payload = manager.ser(new Session[] {session("S1", 2)});
            if (evt == SessionMessage.EVT_SESSION_DELTA) {
                DeltaRequest dr = new DeltaRequest(sid, false);
                dr.setAttribute("k", "v");
                payload = deltaBytes(dr);
            }
            if (evt == SessionMessage.EVT_CHANGE_SESSION_ID) payload = manager.serId("NEWID.node2");
            SessionMessageImpl msg = new SessionMessageImpl("localhost#/app", evt, payload, sid, sid + "-1700000000000");
            if (evt != SessionMessage.EVT_ALL_SESSION_NOCONTEXTMANAGER) msg.setTimestamp(1700000000000L + evt);
            v("tomcat_sessionmessage_evt" + evt, msg);
        }
        // DeltaRequest: every type and action
        DeltaRequest dr = new DeltaRequest("SESSID", false);
        dr.setNew(true);
        dr.setMaxInactiveInterval(1800);
        dr.setAttribute("a", "b");
        dr.setAttribute("n", 42);
        dr.setAttribute("list", new ArrayList<>(List.of("x", 1L)));
        dr.setAttribute("point", new Point(1, 2, "pt"));
        dr.removeAttribute("gone");
        dr.setPrincipal(principal("alice", "admin", "user"));
        dr.setAuthType("FORM");
        dr.addSessionListener(new VecListener());
        dr.setNote("org.apache.catalina.authenticator.SESSION_ID", "NOTE-ID");
        dr.removeNote("org.apache.catalina.authenticator.REQUEST");
        deltaVec("tomcat_delta_all_types", dr);
        DeltaRequest dr2 = new DeltaRequest("SESSID2", false);
        dr2.setPrincipal(null);
        dr2.setAuthType(null);
        dr2.removeSessionListener(new VecListener());
        dr2.setAttribute("a", "1");
        dr2.setAttribute("a", "2");
        deltaVec("tomcat_delta_removes", dr2);
        DeltaRequest dr3 = new DeltaRequest("SESSID3", true);
        dr3.setAttribute("a", "1");
        dr3.setAttribute("a", "2");
        dr3.setNew(false);
        deltaVec("tomcat_delta_record_all", dr3);
        deltaVec("tomcat_delta_empty", new DeltaRequest("EMPTY", false));
        DeltaRequest drBig = new DeltaRequest("BIG", false);
        for (int i = 0; i < 300; i++) drBig.setAttribute("attribute-name-" + i, i % 3 == 0 ? (Object) ("value " + i) : (Object) i);
        deltaVec("tomcat_delta_big", drBig);
        // session state streams
        sessionVec("tomcat_sessions_none", new Session[0]);
        sessionVec("tomcat_sessions_one", new Session[] {session("SESSID", 1)});
        DeltaSession p = session("PRINCIPAL", 2);
        p.setPrincipal(principal("bob", "role1"), false);
        p.setAuthType("BASIC", false);
        sessionVec("tomcat_sessions_principal", new Session[] {p});
        DeltaSession notes = session("NOTES", 0);
        notes.setNote("org.apache.catalina.authenticator.SESSION_ID", "OLD-ID", false);
        sessionVec("tomcat_sessions_notes", new Session[] {notes});
        DeltaSession rich = session("RICH", 0);
        rich.setAttribute("map", new HashMap<>(Map.of("a", 1, "b", List.of(1, 2))), false, false);
        rich.setAttribute("point", new Point(5, 6, "x"), false, false);
        rich.setAttribute("date", new java.util.Date(1234567890L), false, false);
        rich.setAttribute("enum", Color.RED, false, false);
        rich.setAttribute("bytes", new byte[] {1, 2, 3}, false, false);
        rich.addSessionListener(new VecListener(), false);
        sessionVec("tomcat_sessions_rich", new Session[] {rich});
        DeltaSession bad = session("BADATTR", 1);
        ArrayList<Object> badList = new ArrayList<>();
        badList.add(new NotSer());
        bad.setAttribute("broken", badList, false, false);
        bad.setAttribute("zz-after", "still here", false, false);
        sessionVec("tomcat_sessions_not_serializable", new Session[] {bad});
        Session[] many = new Session[50];
        for (int i = 0; i < many.length; i++) many[i] = session("MANY" + i, 5);
        sessionVec("tomcat_sessions_many", many);
        byte[] change = manager.serId("NEWID.node2");
        VECS.add(new Vec("tomcat_change_session_id", change, "{\"kind\":\"script\",\"script\":[[\"utf\",\"NEWID.node2\"]]}"));
    }

    static byte[] deltaBytes(DeltaRequest dr) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        ObjectOutputStream oos = new ObjectOutputStream(bos);
        dr.writeExternal(oos);
        oos.flush();
        oos.close();
        return bos.toByteArray();
    }

    static void deltaVec(String name, DeltaRequest dr) throws IOException {
        byte[] data = deltaBytes(dr);
        VECS.add(new Vec(name, data, "{\"kind\":\"script\",\"script\":" + deltaScript(data) + "}"));
    }

    static String deltaScript(byte[] data) throws IOException {
        ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(data));
        List<String> out = new ArrayList<>();
        out.add(readOp(in, "utf"));
        out.add(readOp(in, "bool"));
        int n = in.readInt();
        out.add("[\"int\"," + n + "]");
        for (int i = 0; i < n; i++) {
            out.add(readOp(in, "int"));
            out.add(readOp(in, "int"));
            out.add(readOp(in, "utf"));
            boolean has = in.readBoolean();
            out.add("[\"bool\"," + has + "]");
            if (has) out.add(readOp(in, "obj"));
        }
        return "[" + String.join(",", out) + "]";
    }

    static void sessionVec(String name, Session[] sessions) throws IOException {
        byte[] data = manager.ser(sessions);
        VECS.add(new Vec(name, data, "{\"kind\":\"script\",\"script\":" + sessionScript(data, null) + "}"));
    }

    /** Reads a session-state stream as DeltaSession.doReadObject does; optionally records the values. */
    static String sessionScript(byte[] data, List<Object> values) throws IOException {
        try {
            ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(data));
            List<String> out = values == null ? new ArrayList<>() : null;
            Object countObj = in.readObject();
            rec(out, values, countObj);
            int count = (Integer) countObj;
            for (int s = 0; s < count; s++) {
                for (int k = 0; k < 7; k++) rec(out, values, in.readObject());
                boolean hasPrincipal = in.readBoolean();
                if (out != null) out.add("[\"bool\"," + hasPrincipal + "]");
                if (values != null) values.add(new PrimBool(hasPrincipal));
                if (hasPrincipal) rec(out, values, in.readObject());
                rec(out, values, in.readObject());
                Object next = in.readObject();
                rec(out, values, next);
                if (!(next instanceof Integer)) {
                    rec(out, values, in.readObject());
                    next = in.readObject();
                    rec(out, values, next);
                }
                int n = (Integer) next;
                for (int i = 0; i < n; i++) {
                    rec(out, values, in.readObject());
                    try {
                        rec(out, values, in.readObject());
                    } catch (WriteAbortedException e) {
                        if (out != null) out.add("[\"aborted\"," + q(e.detail.getClass().getName()) + "]");
                        if (values != null) values.add(e);
                    }
                }
                Object m = in.readObject();
                rec(out, values, m);
                for (int i = 0; i < (Integer) m; i++) rec(out, values, in.readObject());
            }
            return out == null ? null : "[" + String.join(",", out) + "]";
        } catch (ClassNotFoundException e) {
            throw new IOException(e);
        }
    }

    static void rec(List<String> out, List<Object> values, Object o) {
        if (out != null) out.add("[\"obj\"," + render(o) + "]");
        if (values != null) values.add(o);
    }

    static final class PrimBool {
        final boolean value;
        PrimBool(boolean v) { value = v; }
    }

    /** Re-writes the values recorded by sessionScript as DeltaSession.doWriteObject writes them. */
    static byte[] writeSessionValues(List<Object> values) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream(8192);
        ObjectOutputStream oos = new ObjectOutputStream(bos);
        for (Object v : values) {
            if (v instanceof PrimBool) oos.writeBoolean(((PrimBool) v).value);
            else if (v instanceof WriteAbortedException) oos.writeObject(null);
            else oos.writeObject(v);
        }
        oos.close();
        return bos.toByteArray();
    }

    // ------------------------------------------------------------------ main

    public static void main(String[] args) throws Exception {
        switch (args.length > 0 ? args[0] : "") {
            case "gen": gen(Paths.get(args[1])); break;
            case "read": read(Files.readAllBytes(Paths.get(args[1]))); break;
            case "session": System.out.println(sessionScript(Files.readAllBytes(Paths.get(args[1])), null)); break;
            case "delta": delta(Files.readAllBytes(Paths.get(args[1]))); break;
            case "bench": bench(Long.parseLong(args[1]), Arrays.copyOfRange(args, 2, args.length)); break;
            case "sessions": benchSessions(Paths.get(args[1])); break;
            default:
                System.err.println("usage: JavaSerVectors gen DIR | read FILE | session FILE | delta FILE | bench MILLIS FILE...");
                System.exit(2);
        }
    }

    static void gen(Path dir) throws Exception {
        buildPlain();
        buildTomcat();
        Files.createDirectories(dir);
        StringBuilder sb = new StringBuilder("{\"java\":" + q(System.getProperty("java.version"))
            + ",\"tomcat\":" + q(org.apache.catalina.util.ServerInfo.getServerNumber()) + ",\"vectors\":[\n");
        Set<String> names = new HashSet<>();
        for (int i = 0; i < VECS.size(); i++) {
            Vec v = VECS.get(i);
            if (!names.add(v.name)) throw new IllegalStateException("duplicate " + v.name);
            Files.write(dir.resolve(v.name + ".ser"), v.data);
            sb.append("{\"name\":").append(q(v.name)).append(",\"file\":").append(q(v.name + ".ser"))
                .append(",\"size\":").append(v.data.length).append(",\"expect\":").append(v.expect).append('}')
                .append(i + 1 < VECS.size() ? ",\n" : "\n");
        }
        sb.append("]}\n");
        Files.write(dir.resolve("manifest.json"), sb.toString().getBytes(StandardCharsets.UTF_8));
        System.out.println(VECS.size() + " vectors written to " + dir);
    }

    static void read(byte[] data) throws Exception {
        ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(data));
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        while (true) {
            try {
                out.println(render(in.readObject()));
            } catch (EOFException e) {
                out.println("EOF");
                return;
            } catch (WriteAbortedException e) {
                out.println("ABORTED " + e.detail.getClass().getName());
            } catch (OptionalDataException e) {
                if (e.eof) { out.println("EOF"); return; }
                byte[] skip = new byte[e.length];
                in.readFully(skip);
                out.println("BLOCK " + Base64.getEncoder().encodeToString(skip));
            }
        }
    }

    static void delta(byte[] data) throws Exception {
        setupTomcat();
        DeltaRequest dr = new DeltaRequest();
        ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(data));
        dr.readExternal(in);
        DeltaSession s = new DeltaSession(manager);
        s.setValid(true);
        s.setId(dr.getSessionId(), false);
        dr.execute(s, false);
        StringBuilder sb = new StringBuilder("{\"id\":" + q(s.getId()) + ",\"maxInactive\":" + s.getMaxInactiveInterval()
            + ",\"isNew\":" + s.isNew() + ",\"authType\":" + (s.getAuthType() == null ? "null" : q(s.getAuthType()))
            + ",\"principal\":" + (s.getPrincipal() == null ? "null" : q(s.getPrincipal().getName())) + ",\"attributes\":{");
        List<String> names = Collections.list(s.getAttributeNames());
        Collections.sort(names);
        for (int i = 0; i < names.size(); i++) {
            if (i > 0) sb.append(',');
            sb.append(q(names.get(i))).append(':').append(render(s.getAttribute(names.get(i))));
        }
        System.out.println(sb.append("}}"));
    }

    /** Session-state streams of about 1, 10 and 100 KiB with typical attribute values. */
    static void benchSessions(Path dir) throws Exception {
        setupTomcat();
        Files.createDirectories(dir);
        int[][] shapes = {{1, 6}, {16, 10}, {120, 14}}; // sessions, attributes per session
        String[] names = {"sessions_1k.ser", "sessions_10k.ser", "sessions_100k.ser"};
        Random rnd = new Random(42);
        for (int k = 0; k < shapes.length; k++) {
            Session[] ss = new Session[shapes[k][0]];
            for (int i = 0; i < ss.length; i++) {
                DeltaSession s = session(String.format("%032X.node%d", rnd.nextLong() & Long.MAX_VALUE, i % 3), 0);
                if (i % 2 == 0) s.setPrincipal(principal("user" + i, "role-a", "role-b"), false);
                for (int a = 0; a < shapes[k][1]; a++) {
                    Object v;
                    switch (a % 7) {
                        case 0: v = "value-" + rnd.nextInt(); break;
                        case 1: v = rnd.nextInt(100000); break;
                        case 2: v = rnd.nextLong(); break;
                        case 3: v = new ArrayList<>(List.of("item-" + a, "item-" + (a + 1), a)); break;
                        case 4: { HashMap<String, Object> m = new HashMap<>(); m.put("qty", a); m.put("sku", "SKU" + rnd.nextInt(999)); m.put("when", new java.util.Date(1700000000000L + a)); v = m; break; }
                        case 5: v = new Point(a, -a, "p" + a); break;
                        default: { byte[] b = new byte[48]; rnd.nextBytes(b); v = b; }
                    }
                    s.setAttribute("attribute." + a, v, false, false);
                }
                ss[i] = s;
            }
            Files.write(dir.resolve(names[k]), manager.ser(ss));
        }
        System.out.println("ok");
    }

    static void bench(long millis, String[] files) throws Exception {
        setupTomcat();
        for (String f : files) {
            byte[] data = Files.readAllBytes(Paths.get(f));
            List<Object> values = new ArrayList<>();
            sessionScript(data, values);
            byte[] again = writeSessionValues(values);
            long decode = time(millis, () -> sessionScript(data, new ArrayList<>()));
            long encode = time(millis, () -> writeSessionValues(values));
            System.out.println("{\"file\":" + q(f) + ",\"bytes\":" + data.length + ",\"decode_ns\":" + decode
                + ",\"encode_ns\":" + encode + ",\"identical\":" + Arrays.equals(data, again) + "}");
        }
    }

    interface Task { Object run() throws Exception; }

    static volatile Object sink;

    /** Median-of-batches nanoseconds per run after a warm-up of the same length. */
    static long time(long millis, Task t) throws Exception {
        long end = System.nanoTime() + millis * 1_000_000L;
        while (System.nanoTime() < end) sink = t.run();
        List<Long> per = new ArrayList<>();
        end = System.nanoTime() + millis * 1_000_000L;
        while (System.nanoTime() < end || per.size() < 5) {
            int reps = 0;
            long t0 = System.nanoTime();
            do { sink = t.run(); reps++; } while (System.nanoTime() - t0 < 20_000_000L);
            per.add((System.nanoTime() - t0) / reps);
        }
        Collections.sort(per);
        return per.get(per.size() / 2);
    }
}
