import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.ObjectStreamClass;
import java.io.Serializable;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import org.apache.catalina.Session;
import org.apache.catalina.core.StandardContext;
import org.apache.catalina.ha.session.BackupManager;
import org.apache.catalina.ha.session.DeltaRequest;
import org.apache.catalina.ha.session.DeltaSession;
import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.group.RpcMessage;
import org.apache.catalina.tribes.membership.MemberImpl;
import org.apache.catalina.tribes.tipis.AbstractReplicatedMap.MapMessage;

/**
 * BackupManager wire vectors made with Tomcat's own classes (tests/unit/test_backup_codec.py compares them).
 *
 * make     prints "NAME HEX" lines: RpcMessage(MapMessage) of every kind a BackupManager sends, a
 *          NoRpcChannelReply, a DeltaSession value and a DeltaRequest diff; then "SUID class value" lines.
 * read HEX deserializes an RpcMessage / MapMessage / NoRpcChannelReply written by Python and prints
 *          one JSON line per message (nested STATE lists too) with what Tomcat sees.
 */
public class BackupVectors {
    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) s.append(String.format("%02x", x & 0xff));
        return s.toString();
    }

    static byte[] unhex(String h) {
        byte[] b = new byte[h.length() / 2];
        for (int k = 0; k < b.length; k++) b[k] = (byte) Integer.parseInt(h.substring(2 * k, 2 * k + 2), 16);
        return b;
    }

    static byte[] ser(Object o) throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bos)) {
            out.writeObject(o);
        }
        return bos.toByteArray();
    }

    static String q(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static BackupManager manager;

    static MemberImpl member(String host, int port, int uid) throws Exception {
        MemberImpl m = new MemberImpl(host, port, 1000);
        byte[] u = new byte[16];
        for (int i = 0; i < 16; i++) u[i] = (byte) (uid + i);
        m.setUniqueId(u);
        return m;
    }

    static RpcMessage rpc(byte[] rpcId, byte[] uuid, Serializable msg, boolean reply) throws Exception {
        RpcMessage r = new RpcMessage(rpcId, uuid, msg);
        if (reply) {
            Field f = RpcMessage.class.getDeclaredField("reply");
            f.setAccessible(true);
            f.setBoolean(r, true);
        }
        return r;
    }

    static Object state(String name) throws Exception {
        Class<?> c = Class.forName("org.apache.catalina.tribes.tipis.AbstractReplicatedMap$State");
        for (Object o : c.getEnumConstants()) if (((Enum<?>) o).name().equals(name)) return o;
        throw new IllegalArgumentException(name);
    }

    static void v(String name, Object o) throws Exception {
        System.out.println(name + " " + hex(ser(o)));
    }

    static void setup() {
        StandardContext context = new StandardContext();
        context.setName("/app");
        context.setPath("/app");
        context.setDistributable(true);
        manager = new BackupManager();
        manager.setContext(context);
    }

    public static void main(String[] args) throws Exception {
        setup();
        if (args[0].equals("make")) {
            byte[] mapId = "localhost#/app-map".getBytes("ISO-8859-1");
            byte[] uuid = new byte[16];
            for (int i = 0; i < 16; i++) uuid[i] = (byte) (0xa0 + i);
            MemberImpl p = member("10.77.15.1", 4000, 1);
            MemberImpl b = member("10.77.15.50", 4000, 0x31);
            String sid = "0123456789ABCDEF0123456789ABCDEF.tomcat1";
            System.out.println("MEMBER_P " + hex(p.getData(false, false)));
            System.out.println("MEMBER_B " + hex(b.getData(false, false)));
            DeltaSession s = new DeltaSession(manager);
            s.setValid(true);
            s.setNew(false);
            s.setCreationTime(1700000000000L);
            s.setMaxInactiveInterval(1800);
            s.setId(sid, false);
            s.setAttribute("text", "héllo", false, false);
            s.setAttribute("n", Integer.valueOf(42), false, false);
            s.setAttribute("list", new ArrayList<>(List.of("x", 7L)), false, false);
            v("VALUE_SESSION", s);
            DeltaRequest dr = new DeltaRequest(sid, false);
            dr.setAttribute("n", Integer.valueOf(43));
            dr.removeAttribute("text");
            ByteArrayOutputStream dbos = new ByteArrayOutputStream();
            try (ObjectOutputStream dout = new ObjectOutputStream(dbos)) {
                dr.writeExternal(dout);
            }
            byte[] diff = dbos.toByteArray();
            System.out.println("DIFF " + hex(diff));
            Member[] bk = new Member[] {b};
            v("RPC_INIT", rpc(mapId, uuid, new MapMessage(mapId, MapMessage.MSG_INIT, false, null, null, null, p, null), false));
            v("RPC_START", rpc(mapId, uuid, new MapMessage(mapId, MapMessage.MSG_START, false, null, null, null, p, null), false));
            v("RPC_STATE", rpc(mapId, uuid, new MapMessage(mapId, MapMessage.MSG_STATE, false, null, null, null, null, null), false));
            v("RPC_PING", rpc(mapId, uuid, new MapMessage(mapId, MapMessage.MSG_PING, false, null, null, null, p, null), false));
            MapMessage pong = new MapMessage(mapId, MapMessage.MSG_PING, false, null, null, null, p, null);
            pong.setValue((Serializable) state("INITIALIZED"));
            v("RPC_PING_REPLY", rpc(mapId, uuid, pong, true));
            ArrayList<MapMessage> list = new ArrayList<>();
            list.add(new MapMessage(mapId, MapMessage.MSG_PROXY, false, sid, null, null, p, bk));
            list.add(new MapMessage(mapId, MapMessage.MSG_PROXY, false, "OTHER.tomcat2", null, null, b, new Member[] {p}));
            MapMessage st = new MapMessage(mapId, MapMessage.MSG_STATE, false, null, null, null, null, null);
            st.setValue(list);
            v("RPC_STATE_REPLY", rpc(mapId, uuid, st, true));
            v("RPC_RETRIEVE", rpc(mapId, uuid, new MapMessage(mapId, MapMessage.MSG_RETRIEVE_BACKUP, false, sid, null, null, null, null), false));
            MapMessage rb = new MapMessage(mapId, MapMessage.MSG_RETRIEVE_BACKUP, false, sid, null, null, null, null);
            rb.setValue(s);
            v("RPC_RETRIEVE_REPLY", rpc(mapId, uuid, rb, true));
            v("RPC_RETRIEVE_REPLY_NULL", rpc(mapId, uuid, null, true));
            v("NORPC", new RpcMessage.NoRpcChannelReply(mapId, uuid));
            v("MSG_BACKUP", new MapMessage(mapId, MapMessage.MSG_BACKUP, false, sid, s, null, p, bk));
            v("MSG_BACKUP_DIFF", new MapMessage(mapId, MapMessage.MSG_BACKUP, true, sid, null, diff, p, bk));
            v("MSG_PROXY", new MapMessage(mapId, MapMessage.MSG_PROXY, false, sid, null, null, p, bk));
            v("MSG_REMOVE", new MapMessage(mapId, MapMessage.MSG_REMOVE, false, sid, null, null, null, null));
            v("MSG_ACCESS", new MapMessage(mapId, MapMessage.MSG_ACCESS, false, sid, null, null, p, bk));
            v("MSG_NOTIFY", new MapMessage(mapId, MapMessage.MSG_NOTIFY_MAPMEMBER, false, sid, null, null, b, new Member[] {p}));
            v("MSG_STOP", new MapMessage(mapId, MapMessage.MSG_STOP, false, null, null, null, p, null));
            v("MSG_COPY", new MapMessage(mapId, MapMessage.MSG_COPY, false, sid, s, null, p, bk));
            System.out.println("SUID MemberImpl " + ObjectStreamClass.lookup(MemberImpl.class).getSerialVersionUID());
            System.out.println("SUID DeltaSession " + ObjectStreamClass.lookup(DeltaSession.class).getSerialVersionUID());
            System.out.println("SUID NoRpcChannelReply " + ObjectStreamClass.lookup(RpcMessage.NoRpcChannelReply.class).getSerialVersionUID());
        } else {
            Object o;
            try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(unhex(args[1])))) {
                o = in.readObject();
            }
            print(o, 0);
        }
    }

    static void print(Object o, int depth) throws Exception {
        if (o instanceof RpcMessage) {
            RpcMessage r = (RpcMessage) o;
            Field fr = RpcMessage.class.getDeclaredField("reply");
            fr.setAccessible(true);
            Field fu = RpcMessage.class.getDeclaredField("uuid");
            fu.setAccessible(true);
            Field fi = RpcMessage.class.getDeclaredField("rpcId");
            fi.setAccessible(true);
            Field fm = RpcMessage.class.getDeclaredField("message");
            fm.setAccessible(true);
            System.out.println("{\"rpc\":" + q(o.getClass().getName()) + ",\"reply\":" + fr.getBoolean(r) + ",\"uuid\":"
                    + q(hex((byte[]) fu.get(r))) + ",\"rpcId\":" + q(new String((byte[]) fi.get(r), "ISO-8859-1"))
                    + ",\"depth\":" + depth + "}");
            Object m = fm.get(r);
            if (m != null) print(m, depth + 1);
            return;
        }
        MapMessage m = (MapMessage) o;
        m.deserialize(null);
        StringBuilder sb = new StringBuilder("{\"type\":" + m.getMsgType() + ",\"depth\":" + depth + ",\"mapId\":"
                + q(new String(m.getMapId(), "ISO-8859-1")) + ",\"diff\":" + m.isDiff() + ",\"key\":"
                + q((String) m.getKey()));
        Member pm = m.getPrimary();
        sb.append(",\"primary\":").append(pm == null ? "null" : q(org.apache.catalina.tribes.util.Arrays.toString(pm.getHost()) + ":" + pm.getPort()));
        sb.append(",\"nodes\":");
        if (m.getBackupNodes() == null) sb.append("null");
        else {
            List<String> ns = new ArrayList<>();
            for (Member n : m.getBackupNodes()) ns.add(q(org.apache.catalina.tribes.util.Arrays.toString(n.getHost()) + ":" + n.getPort()));
            sb.append("[").append(String.join(",", ns)).append("]");
        }
        sb.append(",\"diffLen\":").append(m.getDiffValue() == null ? -1 : m.getDiffValue().length);
        Object val = m.getValue();
        sb.append(",\"valueClass\":").append(q(val == null ? null : val.getClass().getName()));
        if (val instanceof DeltaSession) {
            DeltaSession s = (DeltaSession) val;
            List<String> names = new ArrayList<>(Collections.list(s.getAttributeNames()));
            Collections.sort(names);
            List<String> parts = new ArrayList<>();
            for (String n : names) parts.add(q(n) + ":" + q(String.valueOf(s.getAttribute(n))));
            sb.append(",\"session\":{\"id\":").append(q(s.getIdInternal())).append(",\"maxInactive\":")
                    .append(s.getMaxInactiveInterval()).append(",\"attributes\":{").append(String.join(",", parts))
                    .append("}}");
        } else if (val instanceof Enum) {
            sb.append(",\"state\":").append(q(((Enum<?>) val).name()));
        }
        if (m.getDiffValue() != null) {
            DeltaRequest dr = new DeltaRequest();
            dr.readExternal(new ObjectInputStream(new ByteArrayInputStream(m.getDiffValue())));
            sb.append(",\"diffSession\":").append(q(dr.getSessionId())).append(",\"diffActions\":").append(dr.getSize());
        }
        System.out.println(sb.append("}"));
        if (val instanceof ArrayList) for (Object x : (ArrayList<?>) val) print(x, depth + 1);
    }
}
