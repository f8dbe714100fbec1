import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.ObjectOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.io.BufferPool;
import org.apache.catalina.tribes.io.ChannelData;
import org.apache.catalina.tribes.io.XByteBuffer;
import org.apache.catalina.tribes.membership.MemberImpl;
import org.apache.catalina.tribes.transport.Constants;

/**
 * Golden vectors of the Tribes wire format, made and read by Tomcat's own classes
 * (MemberImpl, ChannelData, XByteBuffer, transport.Constants) for the tribes Python project.
 *
 * <pre>
 *   WireVectors generate            one JSON object (the vectors) on stdout
 *   WireVectors decode              reads lines "KIND ID HEX" on stdin (KIND: member, channeldata,
 *                                   stream:CHUNK), prints one JSON object per line: what Tomcat read
 *                                   or the exception it threw
 *   WireVectors bench SIZE TOTAL CHUNK MILLIS
 *                                   times XByteBuffer decode (append + countPackages +
 *                                   extractDataPackage, as ObjectReader does) and encode
 *                                   (createDataPackage) of SIZE-byte bodies; one JSON line
 * </pre>
 */
public class WireVectors {

    // ------------------------------------------------------------------ helpers

    static String hex(byte[] b) {
        return hex(b, 0, b.length);
    }

    static String hex(byte[] b, int off, int len) {
        StringBuilder sb = new StringBuilder(len * 2);
        for (int i = off; i < off + len; i++) {
            sb.append(Character.forDigit((b[i] >> 4) & 0xF, 16)).append(Character.forDigit(b[i] & 0xF, 16));
        }
        return sb.toString();
    }

    static byte[] unhex(String s) {
        byte[] out = new byte[s.length() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }

    static String str(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                sb.append('\\').append(c);
            } else if (c < 0x20 || c > 0x7e) {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.append('"').toString();
    }

    /** Minimal JSON object writer that keeps insertion order. */
    static final class Obj {
        final Map<String, String> fields = new LinkedHashMap<>();

        Obj put(String k, String v) {
            fields.put(k, v == null ? "null" : str(v));
            return this;
        }

        Obj put(String k, long v) {
            fields.put(k, Long.toString(v));
            return this;
        }

        Obj put(String k, boolean v) {
            fields.put(k, Boolean.toString(v));
            return this;
        }

        Obj raw(String k, String json) {
            fields.put(k, json);
            return this;
        }

        @Override
        public String toString() {
            StringBuilder sb = new StringBuilder("{");
            boolean first = true;
            for (Map.Entry<String, String> e : fields.entrySet()) {
                if (!first) {
                    sb.append(',');
                }
                first = false;
                sb.append(str(e.getKey())).append(':').append(e.getValue());
            }
            return sb.append('}').toString();
        }
    }

    static String array(List<String> items) {
        return "[" + String.join(",", items) + "]";
    }

    static byte[] pattern(int size, int seed) {
        byte[] b = new byte[size];
        for (int i = 0; i < size; i++) {
            b[i] = (byte) (i * 31 + seed);
        }
        return b;
    }

    static String sha256(byte[] b) throws Exception {
        return hex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    static byte[] uid(int seed) {
        byte[] b = new byte[16];
        for (int i = 0; i < 16; i++) {
            b[i] = (byte) (seed + i * 17);
        }
        return b;
    }

    static byte[] serialize(Object o) throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (ObjectOutputStream oos = new ObjectOutputStream(bos)) {
            oos.writeObject(o);
        }
        return bos.toByteArray();
    }

    // ------------------------------------------------------------------ members

    static final class MemberSpec {
        String name;
        byte[] host;
        int port;
        int securePort = -1;
        int udpPort = -1;
        byte[] uniqueId;
        byte[] domain = new byte[0];
        byte[] payload = new byte[0];
        byte[] command = new byte[0];
        long alive;
        MemberImpl member;
        byte[] data;
    }

    static MemberSpec spec(String name, byte[] host, int port, byte[] uniqueId, long alive) {
        MemberSpec s = new MemberSpec();
        s.name = name;
        s.host = host;
        s.port = port;
        s.uniqueId = uniqueId;
        s.alive = alive;
        return s;
    }

    /** Builds the MemberImpl and its packet; alive = now - serviceStartTime, so retry until exact. */
    static void make(MemberSpec s) throws Exception {
        MemberImpl m = new MemberImpl();
        m.setHost(s.host);
        m.setPort(s.port);
        m.setSecurePort(s.securePort);
        m.setUdpPort(s.udpPort);
        m.setUniqueId(s.uniqueId);
        m.setDomain(s.domain);
        m.setPayload(s.payload);
        m.setCommand(s.command);
        for (int attempt = 0; attempt < 1000; attempt++) {
            m.setServiceStartTime(System.currentTimeMillis() - s.alive);
            byte[] data = m.getData(false, true);
            if (XByteBuffer.toLong(data, 14) == s.alive) {
                s.member = m;
                s.data = data;
                return;
            }
        }
        throw new IllegalStateException("could not pin alive for " + s.name);
    }

    static Obj memberJson(MemberSpec s) {
        return new Obj().put("name", s.name).put("host", hex(s.host)).put("port", s.port)
                .put("securePort", s.securePort).put("udpPort", s.udpPort).put("uniqueId", hex(s.uniqueId))
                .put("domain", hex(s.domain)).put("payload", hex(s.payload)).put("command", hex(s.command))
                .put("alive", s.alive).put("bytes", hex(s.data));
    }

    static List<MemberSpec> members() throws Exception {
        List<MemberSpec> out = new ArrayList<>();
        byte[] ref = new byte[16];
        for (int i = 0; i < 16; i++) {
            ref[i] = (byte) (i + 1);
        }
        MemberSpec s = spec("reference", new byte[] { 10, 0, 0, 1 }, 4000, ref, 5000);
        s.domain = "dom".getBytes(StandardCharsets.ISO_8859_1);
        s.payload = new byte[] { (byte) 0xAA };
        out.add(s);

        s = spec("reference-shutdown", new byte[] { 10, 0, 0, 1 }, 4000, ref, 5000);
        s.domain = "dom".getBytes(StandardCharsets.ISO_8859_1);
        s.payload = new byte[] { (byte) 0xAA };
        s.command = Member.SHUTDOWN_PAYLOAD;
        out.add(s);

        out.add(spec("plain-defaults", new byte[] { 10, 77, 11, 2 }, 4000, uid(3), 0));

        s = spec("lab-shutdown-nodomain", new byte[] { 10, 77, 11, 3 }, 4001, uid(77), 123456);
        s.command = Member.SHUTDOWN_PAYLOAD;
        out.add(s);

        s = spec("ipv6-loopback-ports", new byte[] { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 4100,
                uid(200), 42);
        s.securePort = 4443;
        s.udpPort = 4200;
        out.add(s);

        s = spec("ipv6-linklocal-domain", new byte[] { (byte) 0xfe, (byte) 0x80, 0, 0, 0, 0, 0, 0, 2, 0x11,
                0x22, (byte) 0xff, (byte) 0xfe, 0x33, 0x44, 0x55 }, 65535, uid(9), 999);
        s.domain = "{1,2,3}".getBytes(StandardCharsets.ISO_8859_1);
        out.add(s);

        s = spec("high-bytes-host-latin1-domain", new byte[] { (byte) 255, (byte) 254, (byte) 128, 1 }, 1,
                uid(250), 1);
        s.domain = "caf\u00e9-cluster".getBytes(StandardCharsets.ISO_8859_1);
        out.add(s);

        s = spec("big-payload", new byte[] { 127, 0, 0, 1 }, 4099, uid(5), 86_400_000L);
        s.payload = pattern(4000, 7);
        s.domain = "prod".getBytes(StandardCharsets.ISO_8859_1);
        out.add(s);

        s = spec("recovery-epoch-alive", new byte[] { (byte) 192, (byte) 168, 1, 20 }, 4010, uid(11), 1763780000123L);
        out.add(s);

        s = spec("negative-alive-odd-ports", new byte[] { 10, 0, 0, 9 }, Integer.MAX_VALUE, uid(128), -1);
        s.securePort = 0;
        s.udpPort = Integer.MIN_VALUE;
        out.add(s);

        s = spec("custom-command", new byte[] { 10, 1, 2, 3 }, 4005, uid(60), 77);
        s.command = "custom-command".getBytes(StandardCharsets.ISO_8859_1);
        s.payload = "hello".getBytes(StandardCharsets.ISO_8859_1);
        out.add(s);

        s = spec("zero-uid", new byte[] { 0, 0, 0, 0 }, 0, new byte[16], 0);
        out.add(s);

        for (MemberSpec m : out) {
            make(m);
        }
        return out;
    }

    // ------------------------------------------------------------------ channel data

    static final class CdSpec {
        String name;
        int options;
        long timestamp;
        byte[] uniqueId;
        MemberSpec address;
        byte[] message;
        String messageKind;
        int seed = -1;
    }

    static List<CdSpec> channelData(List<MemberSpec> members) throws Exception {
        List<CdSpec> out = new ArrayList<>();
        int[] options = { 0, 1, 2, 6, 8, 10, 64, 0x102, -1, Integer.MAX_VALUE };
        long[] timestamps = { 0, 0x0000018000000000L, 1763780000123L, -1, Long.MAX_VALUE, Long.MIN_VALUE };
        int[] sizes = { 0, 1, 3, 100, 1024, 4096, 65536, 100_000, 1 << 20 };
        int n = 0;
        // the reference frame of tribes-protocol.md 3.2
        CdSpec ref = new CdSpec();
        ref.name = "reference";
        ref.options = 8;
        ref.timestamp = 0x0000018000000000L;
        ref.uniqueId = new byte[16];
        ref.uniqueId[0] = (byte) 0xc0;
        for (int i = 1; i < 16; i++) {
            ref.uniqueId[i] = (byte) i;
        }
        ref.address = members.get(0);
        ref.message = "ABC".getBytes(StandardCharsets.ISO_8859_1);
        ref.messageKind = "bytes";
        out.add(ref);
        for (int size : sizes) {
            CdSpec c = new CdSpec();
            c.name = "size-" + size;
            c.options = options[n % options.length];
            c.timestamp = timestamps[n % timestamps.length];
            c.uniqueId = uid(40 + n);
            c.uniqueId[6] = (byte) ((c.uniqueId[6] & 0x0f) | 0x40);
            c.uniqueId[8] = (byte) ((c.uniqueId[8] & 0x3f) | 0x80);
            c.address = members.get(n % members.size());
            c.message = pattern(size, n);
            c.messageKind = "pattern";
            c.seed = n;
            out.add(c);
            n++;
        }
        for (int i = 0; i < options.length; i++) {
            CdSpec c = new CdSpec();
            c.name = "options-" + options[i];
            c.options = options[i];
            c.timestamp = timestamps[(i + 3) % timestamps.length];
            c.uniqueId = uid(90 + i);
            c.address = members.get((i + 5) % members.size());
            c.message = pattern(10 + i, i);
            c.messageKind = "bytes";
            out.add(c);
        }
        // odd uniqueId lengths: Tomcat writes and reads any length
        for (int len : new int[] { 0, 1, 20 }) {
            CdSpec c = new CdSpec();
            c.name = "uniqueid-length-" + len;
            c.options = 2;
            c.timestamp = 1;
            c.uniqueId = pattern(len, 3);
            c.address = members.get(2);
            c.message = new byte[] { 1, 2 };
            c.messageKind = "bytes";
            out.add(c);
        }
        // Java-serialized payloads, as GroupChannel sends them (class name from the first descriptor)
        Object[][] objs = {
            { "serialized-hashmap", new java.util.HashMap<>(Map.of("k", "v")) },
            { "serialized-string", "hello tribes" },
            { "serialized-date", new java.util.Date(0) },
            { "serialized-arraylist", new java.util.ArrayList<>(List.of(1, 2, 3)) },
            { "serialized-int-array", new int[] { 1, 2, 3 } },
        };
        for (Object[] o : objs) {
            CdSpec c = new CdSpec();
            c.name = (String) o[0];
            c.options = 2;
            c.timestamp = 1763780000456L;
            c.uniqueId = uid(150 + out.size());
            c.address = members.get(3);
            c.message = serialize(o[1]);
            c.messageKind = "java:" + (o[1].getClass().isArray() ? o[1].getClass().getName() : o[1].getClass().getName());
            out.add(c);
        }
        return out;
    }

    static ChannelData toChannelData(CdSpec c) {
        ChannelData cd = new ChannelData(false);
        cd.setOptions(c.options);
        cd.setTimestamp(c.timestamp);
        cd.setUniqueId(c.uniqueId);
        cd.setAddress(c.address.member);
        cd.setMessage(new XByteBuffer(c.message, false));
        return cd;
    }

    static void generate(PrintStream out) throws Exception {
        List<MemberSpec> members = members();
        List<String> mj = new ArrayList<>();
        for (MemberSpec m : members) {
            mj.add(memberJson(m).toString());
        }
        List<CdSpec> cds = channelData(members);
        List<String> cj = new ArrayList<>();
        List<byte[]> frames = new ArrayList<>();
        for (CdSpec c : cds) {
            ChannelData cd = toChannelData(c);
            byte[] body = cd.getDataPackage();
            byte[] frame = XByteBuffer.createDataPackage(cd);
            frames.add(frame);
            Obj o = new Obj().put("name", c.name).put("options", c.options).put("timestamp", c.timestamp)
                    .put("uniqueId", hex(c.uniqueId)).put("address", c.address.name)
                    .put("messageKind", c.messageKind).put("messageLength", c.message.length);
            if (c.seed >= 0) {
                o.put("seed", c.seed);
            }
            if (c.message.length <= 4096) {
                o.put("message", hex(c.message)).put("body", hex(body)).put("frame", hex(frame));
            } else {
                o.put("messageSha256", sha256(c.message)).put("bodySha256", sha256(body))
                        .put("frameSha256", sha256(frame)).put("frameHead", hex(frame, 0, 200))
                        .put("frameTail", hex(frame, frame.length - 64, 64));
            }
            cj.add(o.toString());
        }
        // streams: several frames concatenated, as on a TCP connection
        List<String> sj = new ArrayList<>();
        ByteArrayOutputStream small = new ByteArrayOutputStream();
        List<String> smallNames = new ArrayList<>();
        for (int i = 0; i < cds.size(); i++) {
            if (cds.get(i).message.length <= 1024) {
                small.write(frames.get(i));
                smallNames.add(str(cds.get(i).name));
            }
        }
        small.write(Constants.ACK_COMMAND);
        smallNames.add(str("ACK"));
        small.write(Constants.FAIL_ACK_COMMAND);
        smallNames.add(str("FAIL_ACK"));
        sj.add(new Obj().put("name", "small-frames-and-acks").raw("frames", array(smallNames))
                .put("stream", hex(small.toByteArray())).toString());
        // what XByteBuffer (discard=true, as ObjectReader) extracts from the stream in 1000-byte reads
        XByteBuffer xb = new XByteBuffer(1024, true);
        byte[] st = small.toByteArray();
        List<String> extracted = new ArrayList<>();
        for (int off = 0; off < st.length; off += 1000) {
            xb.append(st, off, Math.min(1000, st.length - off));
            while (xb.countPackages(true) > 0) {
                XByteBuffer pkg = xb.extractDataPackage(true);
                extracted.add(str(hex(pkg.getBytes())));
            }
        }
        sj.set(0, sj.get(0).substring(0, sj.get(0).length() - 1) + ",\"extractedBodies\":" + array(extracted) + "}");

        Obj acks = new Obj().put("ACK_DATA", hex(Constants.ACK_DATA)).put("FAIL_ACK_DATA", hex(Constants.FAIL_ACK_DATA))
                .put("ACK_COMMAND", hex(Constants.ACK_COMMAND)).put("FAIL_ACK_COMMAND", hex(Constants.FAIL_ACK_COMMAND))
                .put("emptyFrame", hex(XByteBuffer.createDataPackage(new byte[0])));
        Obj root = new Obj().put("generator", "interop/java/src/WireVectors.java")
                .put("tomcat", org.apache.catalina.util.ServerInfo.getServerNumber())
                .put("pattern", "message[i] = (byte)(i*31 + seed)")
                .raw("members", "[\n" + String.join(",\n", mj) + "\n]")
                .raw("channelData", "[\n" + String.join(",\n", cj) + "\n]")
                .raw("streams", array(sj))
                .raw("acks", acks.toString());
        out.println(root);
    }

    // ------------------------------------------------------------------ decode

    static String error(Throwable t) {
        return t.getClass().getName() + ": " + t.getMessage();
    }

    static Obj describe(MemberImpl m) {
        return new Obj().put("host", hex(m.getHost())).put("port", m.getPort()).put("securePort", m.getSecurePort())
                .put("udpPort", m.getUdpPort()).put("uniqueId", hex(m.getUniqueId())).put("domain", hex(m.getDomain()))
                .put("payload", hex(m.getPayload())).put("command", hex(m.getCommand()))
                .put("alive", m.getMemberAliveTime());
    }

    static void decode(BufferedReader in, PrintStream out) throws Exception {
        String line;
        while ((line = in.readLine()) != null) {
            line = line.trim();
            if (line.isEmpty()) {
                continue;
            }
            String[] parts = line.split(" ", 3);
            String kind = parts[0];
            String id = parts[1];
            byte[] data = unhex(parts.length > 2 ? parts[2] : "");
            Obj o = new Obj().put("id", id).put("kind", kind);
            try {
                if (kind.equals("member")) {
                    MemberImpl m = (MemberImpl) MemberImpl.getMember(data);
                    o.put("ok", true).raw("member", describe(m).toString());
                } else if (kind.equals("channeldata")) {
                    ChannelData cd = ChannelData.getDataFromPackage(data);
                    ChannelData cd2 = ChannelData.getDataFromPackage(new XByteBuffer(data, false));
                    o.put("ok", true).put("options", cd.getOptions()).put("timestamp", cd.getTimestamp())
                            .put("uniqueId", hex(cd.getUniqueId()))
                            .raw("address", describe((MemberImpl) cd.getAddress()).toString())
                            .put("message", hex(cd.getMessage().getBytes()))
                            .put("sameViaXByteBuffer", java.util.Arrays.equals(cd.getMessage().getBytes(),
                                    cd2.getMessage().getBytes()) && cd.getAddress().equals(cd2.getAddress()));
                } else if (kind.startsWith("stream:")) {
                    int chunk = Integer.parseInt(kind.substring(7));
                    XByteBuffer xb = new XByteBuffer(1024, true);
                    List<String> bodies = new ArrayList<>();
                    for (int off = 0; off < data.length; off += chunk) {
                        xb.append(data, off, Math.min(chunk, data.length - off));
                        while (xb.countPackages(true) > 0) {
                            bodies.add(str(hex(xb.extractDataPackage(true).getBytes())));
                        }
                    }
                    o.put("ok", true).raw("bodies", array(bodies)).put("remaining", xb.getLength());
                } else {
                    throw new IllegalArgumentException("unknown kind " + kind);
                }
            } catch (Throwable t) {
                o.put("ok", false).put("error", error(t));
            }
            out.println(o);
        }
    }

    // ------------------------------------------------------------------ bench

    static void bench(int size, long total, int chunk, long millis, PrintStream out) throws Exception {
        byte[] body = pattern(size, 1);
        int frameLen = XByteBuffer.getDataPackageLength(size);
        int count = (int) Math.max(1, total / frameLen);
        byte[] stream = new byte[count * frameLen];
        for (int i = 0; i < count; i++) {
            XByteBuffer.createDataPackage(body, 0, size, stream, i * frameLen);
        }
        // decode as ObjectReader does: append a read, countPackages, extract each (clearFromBuffer)
        double bestDecode = Double.MAX_VALUE;
        long deadline = System.nanoTime() + millis * 1_000_000L;
        int rounds = 0;
        long sink = 0;
        while (rounds < 3 || System.nanoTime() < deadline) {
            long t0 = System.nanoTime();
            XByteBuffer xb = new XByteBuffer(Constants.DEFAULT_CLUSTER_MSG_BUFFER_SIZE, true);
            int got = 0;
            for (int off = 0; off < stream.length; off += chunk) {
                xb.append(stream, off, Math.min(chunk, stream.length - off));
                int n = xb.countPackages();
                for (int i = 0; i < n; i++) {
                    XByteBuffer pkg = xb.extractDataPackage(true);
                    sink += pkg.getLength() + pkg.getBytesDirect()[pkg.getLength() / 2];
                    BufferPool.getBufferPool().returnBuffer(pkg);
                    got++;
                }
            }
            double dt = (System.nanoTime() - t0) / 1e9;
            if (got != count) {
                throw new IllegalStateException("decoded " + got + " of " + count);
            }
            bestDecode = Math.min(bestDecode, dt);
            rounds++;
            if (rounds > 200) {
                break;
            }
        }
        double bestEncode = Double.MAX_VALUE;
        deadline = System.nanoTime() + millis * 1_000_000L;
        rounds = 0;
        while (rounds < 3 || System.nanoTime() < deadline) {
            long t0 = System.nanoTime();
            for (int i = 0; i < count; i++) {
                byte[] f = XByteBuffer.createDataPackage(body);
                sink += f.length + f[(i * 7) % f.length];
            }
            double dt = (System.nanoTime() - t0) / 1e9;
            bestEncode = Math.min(bestEncode, dt);
            rounds++;
            if (rounds > 200) {
                break;
            }
        }
        out.println(new Obj().put("size", size).put("frames", count).put("bytes", (long) stream.length)
                .put("chunk", chunk).raw("decodeSeconds", Double.toString(bestDecode))
                .raw("encodeSeconds", Double.toString(bestEncode)).put("sink", sink)
                .put("tomcat", org.apache.catalina.util.ServerInfo.getServerNumber()));
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        String mode = args.length > 0 ? args[0] : "generate";
        switch (mode) {
            case "generate":
                generate(out);
                break;
            case "decode":
                decode(new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)), out);
                break;
            case "bench":
                for (int i = 1; i + 3 < args.length; i += 4) {
                    bench(Integer.parseInt(args[i]), Long.parseLong(args[i + 1]), Integer.parseInt(args[i + 2]),
                            Long.parseLong(args[i + 3]), out);
                }
                break;
            default:
                System.err.println("usage: WireVectors generate | decode | bench SIZE TOTAL CHUNK MILLIS ...");
                System.exit(2);
        }
        out.flush();
    }
}
