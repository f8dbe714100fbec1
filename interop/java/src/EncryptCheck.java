import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

import org.apache.catalina.tribes.Channel;
import org.apache.catalina.tribes.ChannelException;
import org.apache.catalina.tribes.ChannelMessage;
import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.group.ChannelInterceptorBase;
import org.apache.catalina.tribes.group.InterceptorPayload;
import org.apache.catalina.tribes.group.interceptors.EncryptInterceptor;
import org.apache.catalina.tribes.io.ChannelData;
import org.apache.catalina.tribes.io.XByteBuffer;

/**
 * Ground truth for tribes/interceptors/encrypt.py: the real EncryptInterceptor of the Tomcat jars on the
 * classpath, driven in-process (no network). One command per stdin line, one answer per stdout line:
 * <pre>
 *   start ALGO KEYHEX              -> ok | error MESSAGE          (configuration + start as Tomcat does it)
 *   seal ALGO KEYHEX TS DATAHEX    -> ok PAYLOADHEX | error MESSAGE  (what sendMessage puts on the wire)
 *   open ALGO KEYHEX PAYLOADHEX    -> ok DATAHEX | dropped | error MESSAGE (what messageReceived passes up)
 * </pre>
 * ALGO "-" = the version's default. Interceptors are kept per (ALGO, KEY) so the 10.1 replay window
 * holds across lines. Compiled alone by the tests (tests/interop/encrypt_support.py).
 */
public class EncryptCheck {

    static final PrintStream OUT = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true,
            StandardCharsets.UTF_8);

    static class Capture extends ChannelInterceptorBase {
        byte[] sent;
        byte[] received;

        @Override
        public void sendMessage(Member[] destination, ChannelMessage msg, InterceptorPayload payload) {
            sent = msg.getMessage().getBytes();
        }

        @Override
        public void messageReceived(ChannelMessage msg) {
            received = msg.getMessage().getBytes();
        }
    }

    static class Stack {
        final EncryptInterceptor enc = new EncryptInterceptor();
        final Capture below = new Capture();
        final Capture above = new Capture();
    }

    static final Map<String, Stack> STACKS = new HashMap<>();

    static Stack stack(String algo, String key) throws Exception {
        String k = algo + " " + key;
        Stack s = STACKS.get(k);
        if (s == null) {
            s = new Stack();
            if (!algo.equals("-")) {
                s.enc.setEncryptionAlgorithm(algo);
            }
            s.enc.setEncryptionKey(key);
            s.enc.setNext(s.below);
            s.enc.setPrevious(s.above);
            s.enc.start(Channel.SND_TX_SEQ);
            STACKS.put(k, s);
        }
        return s;
    }

    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(String.format("%02x", x & 0xff));
        }
        return s.toString();
    }

    static byte[] unhex(String h) {
        if (h.equals("-")) {
            return new byte[0];
        }
        byte[] out = new byte[h.length() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }

    static String describe(Throwable t) {
        StringBuilder b = new StringBuilder(t.getClass().getSimpleName()).append(": ").append(t.getMessage());
        for (Throwable c = t.getCause(); c != null; c = c.getCause()) {
            b.append(" / ").append(c.getClass().getSimpleName()).append(": ").append(c.getMessage());
        }
        return b.toString().replace('\n', ' ');
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] w = line.trim().split(" ");
            try {
                switch (w[0]) {
                    case "start":
                        stack(w[1], w[2]);
                        OUT.println("ok");
                        break;
                    case "seal": {
                        Stack s = stack(w[1], w[2]);
                        ChannelData cd = new ChannelData(true);
                        cd.setTimestamp(Long.parseLong(w[3]));
                        cd.setMessage(new XByteBuffer(unhex(w[4]), false));
                        s.enc.sendMessage(new Member[0], cd, null);
                        OUT.println("ok " + hex(s.below.sent));
                        break;
                    }
                    case "open": {
                        Stack s = stack(w[1], w[2]);
                        s.above.received = null;
                        ChannelData cd = new ChannelData(true);
                        cd.setMessage(new XByteBuffer(unhex(w[3]), false));
                        s.enc.messageReceived(cd);
                        OUT.println(s.above.received == null ? "dropped" : "ok " + hex(s.above.received));
                        break;
                    }
                    default:
                        OUT.println("error unknown command " + w[0]);
                }
            } catch (Throwable t) {
                OUT.println("error " + describe(t));
            }
        }
    }
}
