import java.io.Serializable;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32;

import org.apache.catalina.tribes.ByteMessage;
import org.apache.catalina.tribes.Channel;
import org.apache.catalina.tribes.ChannelInterceptor;
import org.apache.catalina.tribes.ChannelListener;
import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.group.GroupChannel;
import org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor;
import org.apache.catalina.tribes.membership.MemberImpl;
import org.apache.catalina.tribes.transport.ReceiverBase;

/**
 * Channel benchmark / data-integrity peer (no multicast: destinations are given as host:port).
 *
 *   java ChannelBench recv  --address IP --port P [--interceptors A,B] [--iprop Name.k=v]
 *        verifies "integrity" payloads (magic TBCH | senderId | seq | crc32 | random bytes): per-sender
 *        order, duplicates, corruption; answers "totals" on stdin with a JSON line; echoes back with --echo.
 *   java ChannelBench send  --address IP --port P --to host:port[,host:port] --count N --min S --max S
 *        --options O --sender-id K [--interceptors ...]   sends integrity payloads, prints sendDone.
 *   java ChannelBench ping  --address IP --port P --to host:port --count N --size S --options O
 *        ping-pong with an echoing peer: prints p50/p99 round-trip latency.
 *   java ChannelBench thru  ... --count N --size S --options O : throughput of fixed-size messages.
 * All output is JSON lines on stdout. Stdin: "totals", "quit".
 */
public class ChannelBench {
    static final int MAGIC = 0x54424348; // "TBCH"

    String mode = "recv";
    String address = "127.0.0.1";
    int port = 4000;
    String to = null;
    int count = 1000;
    int min = 1;
    int max = 1024;
    int size = 1024;
    int options = 2;
    int senderId = 1;
    boolean echo = false;
    String interceptors = "none";
    List<String[]> iprops = new ArrayList<>();
    GroupChannel channel;
    List<ChannelInterceptor> stack = new ArrayList<>();

    // receiver statistics
    final Map<Integer, Long> lastSeq = new HashMap<>();
    final AtomicLong received = new AtomicLong();
    final AtomicLong bytes = new AtomicLong();
    long outOfOrder, duplicates, corrupt, foreign;
    final Map<Integer, java.util.BitSet> seen = new HashMap<>();
    volatile long firstRx, lastRx;
    final BlockingQueue<Long> pongs = new ArrayBlockingQueue<>(16);

    static void emit(String s) {
        synchronized (System.out) {
            System.out.println(s);
            System.out.flush();
        }
    }

    static String q(String s) {
        return s == null ? "null" : "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    void parse(String[] args) {
        int i = 0;
        if (args.length > 0 && !args[0].startsWith("--")) {
            mode = args[0];
            i = 1;
        }
        for (; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--echo")) {
                echo = true;
                continue;
            }
            String v = args[++i];
            switch (a) {
                case "--address": address = v; break;
                case "--port": port = Integer.parseInt(v); break;
                case "--to": to = v; break;
                case "--count": count = Integer.parseInt(v); break;
                case "--min": min = Integer.parseInt(v); break;
                case "--max": max = Integer.parseInt(v); break;
                case "--size": size = Integer.parseInt(v); break;
                case "--options": options = Integer.decode(v); break;
                case "--sender-id": senderId = Integer.parseInt(v); break;
                case "--interceptors": interceptors = v; break;
                case "--iprop": iprops.add(v.split("=", 2)); break;
                default: throw new IllegalArgumentException("unknown option " + a);
            }
        }
    }

    void build() throws Exception {
        channel = new GroupChannel();
        ReceiverBase rx = (ReceiverBase) channel.getChannelReceiver();
        rx.setAddress(address);
        rx.setPort(port);
        rx.setAutoBind(100);
        if (!interceptors.equals("none")) {
            for (String name : interceptors.split(",")) {
                String cls = name.contains(".") ? name : "org.apache.catalina.tribes.group.interceptors." + name;
                ChannelInterceptor ci = (ChannelInterceptor) Class.forName(cls).getDeclaredConstructor().newInstance();
                for (String[] kv : iprops) {
                    String[] k = kv[0].split("\\.", 2);
                    if (k[0].equals(ci.getClass().getSimpleName())) {
                        org.apache.tomcat.util.IntrospectionUtils.setProperty(ci, k[1], kv[1]);
                    }
                }
                channel.addInterceptor(ci);
                stack.add(ci);
            }
        }
        channel.addChannelListener(new ChannelListener() {
            @Override
            public boolean accept(Serializable msg, Member sender) {
                return true;
            }

            @Override
            public void messageReceived(Serializable msg, Member sender) {
                onMessage(msg, sender);
            }
        });
    }

    void onMessage(Serializable msg, Member sender) {
        byte[] b = msg instanceof ByteMessage ? ((ByteMessage) msg).getMessage() : (byte[]) msg;
        long now = System.nanoTime();
        if (mode.equals("ping") || mode.equals("thru")) {
            pongs.offer(Long.valueOf(now));
            return;
        }
        if (firstRx == 0) {
            firstRx = now;
        }
        lastRx = now;
        received.incrementAndGet();
        bytes.addAndGet(b.length);
        if (b.length >= 16 && ByteBuffer.wrap(b).getInt(0) == MAGIC) {
            ByteBuffer bb = ByteBuffer.wrap(b);
            int sid = bb.getInt(4);
            int seq = bb.getInt(8);
            int crc = bb.getInt(12);
            CRC32 c = new CRC32();
            c.update(b, 16, b.length - 16);
            synchronized (this) {
                if ((int) c.getValue() != crc) {
                    corrupt++;
                } else {
                    java.util.BitSet s = seen.computeIfAbsent(Integer.valueOf(sid), k -> new java.util.BitSet());
                    if (s.get(seq)) {
                        duplicates++;
                    }
                    s.set(seq);
                    Long last = lastSeq.get(Integer.valueOf(sid));
                    if (last != null && seq != last.longValue() + 1) {
                        outOfOrder++;
                    }
                    lastSeq.put(Integer.valueOf(sid), Long.valueOf(seq));
                }
            }
        } else {
            synchronized (this) {
                foreign++;
            }
        }
        if (echo) {
            try {
                channel.send(new Member[] { sender }, msg, options);
            } catch (Exception e) {
                emit("{\"event\":\"error\",\"where\":\"echo\",\"message\":" + q(String.valueOf(e)) + "}");
            }
        }
    }

    synchronized void totals() {
        StringBuilder per = new StringBuilder("{");
        int i = 0;
        for (Map.Entry<Integer, java.util.BitSet> e : seen.entrySet()) {
            per.append(i++ > 0 ? "," : "").append(q(String.valueOf(e.getKey()))).append(":{\"distinct\":")
                    .append(e.getValue().cardinality()).append(",\"max\":").append(e.getValue().length() - 1).append("}");
        }
        per.append("}");
        double secs = (lastRx - firstRx) / 1e9;
        emit("{\"event\":\"totals\",\"messages\":" + received.get() + ",\"bytes\":" + bytes.get() + ",\"outOfOrder\":"
                + outOfOrder + ",\"duplicates\":" + duplicates + ",\"corrupt\":" + corrupt + ",\"foreign\":" + foreign
                + ",\"senders\":" + per + ",\"seconds\":" + secs + ",\"lastRx_ns\":" + lastRx + "}");
    }

    Member[] destinations() throws java.io.IOException {
        String[] parts = to.split(",");
        Member[] out = new Member[parts.length];
        for (int i = 0; i < parts.length; i++) {
            String[] hp = parts[i].split(":");
            out[i] = new MemberImpl(hp[0], Integer.parseInt(hp[1]), 0);
        }
        return out;
    }

    static byte[] integrity(int sid, int seq, int len, Random r) {
        len = Math.max(len, 16);
        byte[] b = new byte[len];
        byte[] body = new byte[len - 16];
        r.nextBytes(body);
        System.arraycopy(body, 0, b, 16, body.length);
        CRC32 c = new CRC32();
        c.update(b, 16, b.length - 16);
        ByteBuffer.wrap(b).putInt(MAGIC).putInt(sid).putInt(seq).putInt((int) c.getValue());
        return b;
    }

    void waitDispatch() throws InterruptedException {
        for (ChannelInterceptor ci : stack) {
            if (ci instanceof MessageDispatchInterceptor) {
                MessageDispatchInterceptor mdi = (MessageDispatchInterceptor) ci;
                while (mdi.getCurrentSize() > 0 || mdi.getActiveCount() > 0) {
                    Thread.sleep(1);
                }
            }
        }
    }

    Serializable wrap(byte[] b) {
        return (options & Channel.SEND_OPTIONS_BYTE_MESSAGE) != 0 ? new ByteMessage(b) : b;
    }

    void send() throws Exception {
        Member[] dst = destinations();
        Random r = new Random(senderId * 7919L);
        long errors = 0;
        String lastError = null;
        long t0 = System.nanoTime();
        for (int i = 0; i < count; i++) {
            int len = min + (max > min ? r.nextInt(max - min + 1) : 0);
            try {
                channel.send(dst, wrap(integrity(senderId, i, len, r)), options);
            } catch (Exception e) {
                errors++;
                lastError = String.valueOf(e);
            }
        }
        waitDispatch();
        double secs = (System.nanoTime() - t0) / 1e9;
        emit("{\"event\":\"sendDone\",\"messages\":" + count + ",\"errors\":" + errors + ",\"seconds\":" + secs
                + ",\"msgs_per_s\":" + (count / secs) + ",\"lastError\":" + q(lastError) + "}");
    }

    void thru() throws Exception {
        Member[] dst = destinations();
        byte[] data = new byte[size];
        new Random(42).nextBytes(data);
        Serializable payload = wrap(data);
        // warm-up
        for (int i = 0; i < Math.min(2000, count); i++) {
            channel.send(dst, payload, options);
        }
        waitDispatch();
        long t0 = System.nanoTime();
        for (int i = 0; i < count; i++) {
            channel.send(dst, payload, options);
        }
        waitDispatch();
        double secs = (System.nanoTime() - t0) / 1e9;
        emit("{\"event\":\"thruDone\",\"messages\":" + count + ",\"size\":" + size + ",\"options\":" + options
                + ",\"seconds\":" + secs + ",\"msgs_per_s\":" + (count / secs) + ",\"mb_per_s\":"
                + ((double) count * size / secs / 1e6) + ",\"t0_ns\":" + t0 + "}");
    }

    void ping() throws Exception {
        Member[] dst = destinations();
        byte[] data = new byte[size];
        new Random(42).nextBytes(data);
        Serializable payload = wrap(data);
        int warm = Math.min(200, count);
        long[] rtt = new long[count];
        for (int i = 0; i < warm + count; i++) {
            long t0 = System.nanoTime();
            channel.send(dst, payload, options);
            Long t1 = pongs.poll(10, TimeUnit.SECONDS);
            if (t1 == null) {
                throw new IllegalStateException("no echo within 10 s");
            }
            if (i >= warm) {
                rtt[i - warm] = t1.longValue() - t0;
            }
        }
        Arrays.sort(rtt);
        emit("{\"event\":\"pingDone\",\"count\":" + count + ",\"size\":" + size + ",\"options\":" + options
                + ",\"p50_us\":" + rtt[count / 2] / 1000.0 + ",\"p99_us\":" + rtt[(int) (count * 0.99)] / 1000.0 + "}");
    }

    void run() throws Exception {
        build();
        int level = Channel.SND_RX_SEQ | Channel.SND_TX_SEQ;
        channel.start(level);
        Member local = channel.getLocalMember(false);
        emit("{\"event\":\"ready\",\"port\":" + local.getPort() + ",\"uniqueId\":" + q(hex(local.getUniqueId())) + "}");
        try {
            java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in));
            String line;
            while ((line = in.readLine()) != null) {
                String[] w = line.trim().split("\\s+");
                try {
                    if (w[0].equals("quit")) {
                        break;
                    } else if (w[0].equals("totals")) {
                        totals();
                    } else if (w[0].equals("go")) {
                        if (mode.equals("send")) {
                            send();
                        } else if (mode.equals("ping")) {
                            ping();
                        } else if (mode.equals("thru")) {
                            thru();
                        }
                    } else if (w[0].equals("set")) { // set count size options
                        count = Integer.parseInt(w[1]);
                        size = Integer.parseInt(w[2]);
                        options = Integer.decode(w[3]);
                    }
                } catch (Exception e) {
                    emit("{\"event\":\"error\",\"where\":\"command\",\"message\":" + q(String.valueOf(e)) + "}");
                }
            }
        } finally {
            channel.stop(level);
            emit("{\"event\":\"stopped\"}");
        }
    }

    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(String.format("%02x", x & 0xff));
        }
        return s.toString();
    }

    public static void main(String[] args) throws Exception {
        ChannelBench b = new ChannelBench();
        b.parse(args);
        b.run();
        System.exit(0);
    }
}
